"""The README tables and the pygeoapi resources, derived from the contracts."""

from __future__ import annotations

from typing import Any

import yaml

from pipelines.contracts import Contract, LayerContract, Region
from pipelines.publish.styles import FID_LABEL

# A resource key pygeoapi ignores and yitu's app wrapper reads (deploy/pygeoapi/).
PROPERTY_TITLES = "x-yitu-property-titles"
PYGEOAPI_RESOURCES = ("resources:  # generated from schemas/layers/ by "
                      "`python -m pipelines.codegen`; do not edit by hand\n")


def dataset_table(contracts: list[Contract]) -> str:
    rows = ["| dataset | 名称 | from | geometry | key | cadence | delivery | fields |",
            "|---|---|---|---|---|---|---|---|"]
    for c in contracts:
        pii = [f.code for f in c.fields if f.pii]
        fields = ", ".join(f"`{f.code}` {f.label}" for f in c.fields)
        note = f" Personal data (tokenised): {', '.join(pii)}." if pii else ""
        per = f" per {c.snapshot_by}" if c.snapshot_by else ""
        rows.append(f"| `{c.dataset}` | {c.title} | {c.department} | {c.geometry} | "
                    f"{c.key or '—'} | {c.cadence} | {c.delivery}{per} | {fields}.{note} |")
    return "\n".join(rows)


def layer_table(layers: list[LayerContract]) -> str:
    rows = ["| layer | 名称 | what it answers | geometry | columns |", "|---|---|---|---|---|"]
    for layer in layers:
        columns = ", ".join(f"`{c.name}` {c.label}" for c in layer.columns)
        classes = "; ".join(f"`{c.value}` {c.label}" for c in layer.classes)
        note = f" Classes of `{layer.class_column}`: {classes}." if classes else ""
        rows.append(f"| `{layer.layer}` | {layer.title} | {layer.description}{note} | "
                    f"{layer.geometry} | {columns} |")
    return "\n".join(rows)


def chinese_description(layer: LayerContract) -> str:
    """What an analyst reads about a collection: its title, its classes, its fields."""
    classes = "、".join(c.label for c in layer.classes)
    by = layer.labels().get(layer.class_column or "", "")
    kinds = f"按{by}分为：{classes}。" if classes else ""
    return f"{layer.title}。{kinds}字段：{'、'.join(c.label for c in layer.columns)}。"


def pygeoapi_resources(layers: list[LayerContract], region: Region) -> str:
    """pygeoapi's `resources:`, one collection per layer over its OGC view: title and
    description in Chinese first (the server's first language), English second; the Chinese
    titles of its properties under PROPERTY_TITLES (deploy/pygeoapi/yitu_ogc_app.py serves
    them in /queryables and /schema, where pygeoapi 0.21 puts column names)."""
    e = region.extent
    resources: dict[str, Any] = {}
    for layer in layers:
        resources[layer.layer] = {
            "type": "collection",
            "title": {"zh-CN": layer.title, "en-US": layer.layer},
            "description": {"zh-CN": chinese_description(layer), "en-US": layer.description},
            "keywords": list(layer.keywords),
            PROPERTY_TITLES: {"fid": FID_LABEL, **{c.name: c.label for c in layer.columns}},
            "extents": {"spatial": {"bbox": [e.min_lon, e.min_lat, e.max_lon, e.max_lat],
                                    "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}},
            "providers": [{
                "type": "feature", "name": "PostgreSQL",
                "data": {"host": "${YITU_OGC_DB_HOST:-postgis}",
                         "port": "${YITU_OGC_DB_PORT:-5432}",
                         "dbname": "${YITU_OGC_DB_NAME:-yitu}",
                         "user": "${YITU_OGC_DB_USER:-yitu_ogc}",
                         "password": "${YITU_OGC_DB_PASSWORD}", "search_path": ["ogc"]},
                "table": layer.layer, "id_field": "fid", "geom_field": "geom",
                # the view's geometry is in EPSG:4490's own axis order (latitude first)
                "storage_crs": "http://www.opengis.net/def/crs/EPSG/0/4490",
                "crs": ["http://www.opengis.net/def/crs/EPSG/0/4490",
                        "http://www.opengis.net/def/crs/EPSG/0/4326",
                        "http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
            }],
        }
    body = yaml.safe_dump(resources, allow_unicode=True, sort_keys=False, width=100)
    return PYGEOAPI_RESOURCES + "".join(f"  {line}\n" for line in body.splitlines())
