"""pygeoapi's Flask app, as yitu serves it (deploy/pygeoapi/start.sh).

pygeoapi 0.21 titles a collection's properties in /queryables and /schema by their column
names; each resource of pygeoapi-config.yml (generated from the layer contracts) carries the
Chinese titles under `x-yitu-property-titles`, and this adds them to those two answers.
"""

from __future__ import annotations

import gzip
import json
import re

from flask import Response, request
from pygeoapi.flask_app import APP, CONFIG

PROPERTY_TITLES = "x-yitu-property-titles"
DESCRIBED = re.compile(r"^/collections/([^/]+)/(?:queryables|schema)/?$")


@APP.after_request
def _titled_properties(response: Response) -> Response:
    match = DESCRIBED.match(request.path)
    resource = CONFIG["resources"].get(match.group(1), {}) if match else {}
    titles = resource.get(PROPERTY_TITLES)
    # pygeoapi replaces the response's headers by a plain dict: case-sensitive keys
    headers = {k.lower(): v for k, v in response.headers.items()}
    if not titles or response.status_code != 200 or "json" not in headers.get("content-type", ""):
        return response
    zipped = headers.get("content-encoding") == "gzip"
    body = response.get_data()
    document = json.loads(gzip.decompress(body) if zipped else body)
    for name, prop in document.get("properties", {}).items():
        if name in titles and isinstance(prop, dict):
            prop["title"] = titles[name]
    data = json.dumps(document, ensure_ascii=False).encode("utf-8")
    response.set_data(gzip.compress(data) if zipped else data)
    return response


__all__ = ["APP"]
