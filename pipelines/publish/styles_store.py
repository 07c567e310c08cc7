"""Where QGIS looks for a layer's default style: the `layer_styles` table it creates itself,
in a GeoPackage and in PostGIS's `public` schema. Written here with the style of the layer's
contract, marked as the default, so the layer opens styled without a .qml beside it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import Connection, text

from pipelines.contracts import load_layer
from pipelines.contracts.layers import LAYER_ORDER
from pipelines.publish.styles import STYLE_NAME, layer_qml

GEOMETRY_COLUMN = "geom"  # both warehouses name the published geometry so
# QGIS's own definitions of the table (QgsOgrProvider / QgsPostgresProvider `saveStyle`).
GPKG_STYLES_DDL = (
    "CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
    "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
    "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
    "update_time DATETIME DEFAULT CURRENT_TIMESTAMP)")
POSTGIS_STYLES_DDL = (
    "CREATE TABLE IF NOT EXISTS public.layer_styles (id SERIAL PRIMARY KEY, "
    "f_table_catalog varchar, f_table_schema varchar, f_table_name varchar, "
    "f_geometry_column varchar, styleName text, styleQML xml, styleSLD xml, "
    "useAsDefault boolean, description text, owner varchar(63) DEFAULT CURRENT_USER, "
    "ui xml, update_time timestamp DEFAULT CURRENT_TIMESTAMP, type varchar)")
# `type` (geometry type) is left NULL: QGIS matches a style with `type = <the type in the
# layer's URI> OR type IS NULL`, and a URI without a type (typed by hand, a script) has none.


def write_gpkg_style(path: Path, layer: str) -> None:
    """The layer's style as its default in the GeoPackage at `path` (registered in
    gpkg_contents, or GDAL, and so QGIS, would not see the table)."""
    if layer not in LAYER_ORDER:  # a table without a layer contract has no style to give
        return
    contract = load_layer(layer)
    with sqlite3.connect(path) as conn:
        conn.execute(GPKG_STYLES_DDL)
        conn.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, "
                     "description) VALUES ('layer_styles', 'attributes', 'layer_styles', "
                     "'QGIS 图层样式')")
        conn.execute("DELETE FROM layer_styles WHERE f_table_name = ?", (layer,))
        conn.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                     "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, "
                     "description, owner, ui) VALUES ('', '', ?, ?, ?, ?, '', 1, ?, 'yitu', '')",
                     (layer, GEOMETRY_COLUMN, STYLE_NAME, layer_qml(contract), contract.title))
    conn.close()


def write_postgis_styles(conn: Connection, layers: list[str], schema: str = "publish") -> None:
    """The layers' styles as their defaults in public.layer_styles, in the caller's
    transaction (the publish swap: a layer and its style change together)."""
    for name in (n for n in layers if n in LAYER_ORDER):  # only layers with a contract
        contract = load_layer(name)
        where = {"s": schema, "t": name}
        conn.execute(text("DELETE FROM public.layer_styles WHERE f_table_catalog = "
                          "current_database() AND f_table_schema = :s AND f_table_name = :t"),
                     where)
        conn.execute(text(
            "INSERT INTO public.layer_styles (f_table_catalog, f_table_schema, f_table_name, "
            "f_geometry_column, stylename, styleqml, stylesld, useasdefault, description, "
            "owner) VALUES (current_database(), :s, :t, :g, :n, XMLPARSE(DOCUMENT :q), "
            "NULL, true, :d, 'yitu')"),
            {**where, "g": GEOMETRY_COLUMN, "n": STYLE_NAME, "q": layer_qml(contract),
             "d": contract.title})
