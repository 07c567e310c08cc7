#!/usr/bin/env bash
# Starts pygeoapi for yitu: in docker-compose.yml (geopython/pygeoapi image, in place of its
# /entrypoint.sh) and natively in tests/integration/test_deployment_ogc.py, the same way.
# The image's entrypoint refuses to start while a collection's table is missing; here the
# views appear with the first publish, so the OpenAPI document is written without failing
# on them and the collections answer as soon as their layer is published.
set -euo pipefail
: "${PYGEOAPI_CONFIG:?set PYGEOAPI_CONFIG}" "${PYGEOAPI_OPENAPI:?set PYGEOAPI_OPENAPI}"
# `cors: true` needs flask-cors, which the geopython/pygeoapi image lacks: installed once into
# the container (an intranet without PyPI: set PIP_INDEX_URL to its mirror).
python3 -c 'import flask_cors' 2>/dev/null \
  || python3 -m pip install --no-cache-dir --quiet "flask-cors==${FLASK_CORS_VERSION:-6.0.5}"
# The pages' templates and static files: yitu's (offline map) over pygeoapi's own, which
# yitu's templates extend as pygeoapi/<name>; pygeoapi takes one folder of each.
here="$(cd "$(dirname "$0")" && pwd)"
runtime="${PYGEOAPI_RUNTIME_DIR:-/tmp/yitu-pygeoapi}"
package="$(python3 -c 'import os, pygeoapi; print(os.path.dirname(pygeoapi.__file__))')"
mkdir -p "$runtime/templates" "$runtime/static"
ln -sfn "$package/templates" "$runtime/templates/pygeoapi"
ln -sfn "$here/templates/collections" "$runtime/templates/collections"
ln -sfn "$here/templates/yitu" "$runtime/templates/yitu"
for d in css img; do ln -sfn "$package/static/$d" "$runtime/static/$d"; done
# pygeoapi's base page, with its Bootstrap style sheet served from here instead of unpkg.com
# (vendored from npm, static/vendor/bootstrap/); written from the package's own page at each
# start so it follows the pinned pygeoapi. The test fails if the page still reaches out.
sed "s#https://unpkg.com/bootstrap@5.1.3/dist/css/bootstrap.min.css#{{ config['server']['url'] }}/static/vendor/bootstrap/bootstrap.min.css#" \
  "$package/templates/_base.html" > "$runtime/templates/_base.html"
for d in vendor yitu; do ln -sfn "$here/static/$d" "$runtime/static/$d"; done
pygeoapi openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" \
  --no-fail-on-invalid-collection
# yitu_ogc_app (beside this script): pygeoapi's app with the layers' Chinese property titles
exec gunicorn --pythonpath "$(dirname "$0")" --workers "${WSGI_WORKERS:-4}" --worker-class "${WSGI_WORKER_CLASS:-gevent}" \
  --timeout "${WSGI_WORKER_TIMEOUT:-120}" --bind "${CONTAINER_HOST:-0.0.0.0}:${CONTAINER_PORT:-80}" \
  yitu_ogc_app:APP
