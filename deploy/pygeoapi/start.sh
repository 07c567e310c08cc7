#!/usr/bin/env bash
# Starts pygeoapi for yitu: in docker-compose.yml (geopython/pygeoapi image, in place of its
# /entrypoint.sh) and natively in tests/integration/test_deployment_ogc.py, the same way.
# The image's entrypoint refuses to start while a collection's table is missing; here the
# views appear with the first publish, so the OpenAPI document is written without failing
# on them and the collections answer as soon as their layer is published.
set -euo pipefail
: "${PYGEOAPI_CONFIG:?set PYGEOAPI_CONFIG}" "${PYGEOAPI_OPENAPI:?set PYGEOAPI_OPENAPI}"
pygeoapi openapi generate "$PYGEOAPI_CONFIG" --output-file "$PYGEOAPI_OPENAPI" \
  --no-fail-on-invalid-collection
exec gunicorn --workers "${WSGI_WORKERS:-4}" --worker-class "${WSGI_WORKER_CLASS:-gevent}" \
  --timeout "${WSGI_WORKER_TIMEOUT:-120}" --bind "${CONTAINER_HOST:-0.0.0.0}:${CONTAINER_PORT:-80}" \
  pygeoapi.flask_app:APP
