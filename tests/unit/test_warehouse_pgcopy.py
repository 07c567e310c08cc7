"""The COPY glue of the PostGIS warehouse without a server: column types from dtypes, the
Arrow table COPY is fed, and the parsing of COPY's text output."""

from __future__ import annotations

import binascii

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import shapely

from pipelines.contracts import load_contract
from pipelines.warehouse.base import conform_types
from pipelines.warehouse.pgcopy import (
    _parse_text,
    geometry_kinds,
    geometry_type,
    pg_type,
    to_arrow,
)


@pytest.mark.parametrize(("values", "expected"), [
    (pd.Series([True, False]), "boolean"),
    (pd.array([True, None], dtype="boolean"), "boolean"),
    (pd.Series([1, 2], dtype="int32"), "bigint"),
    (pd.array([1, None], dtype="Int64"), "bigint"),
    (pd.Series([1.5, np.nan]), "double precision"),
    (pd.Series(pd.to_datetime(["2026-01-01"])).astype("datetime64[ms]"), "timestamp"),
    (pd.Series(pd.to_datetime(["2026-01-01"], utc=True)), "timestamptz"),
    (pd.Series(["a", None], dtype="str"), "text"),
    # by dtype alone: objects are text whatever they hold, and so are empty columns
    (pd.Series([None, None], dtype=object), "text"),
    (pd.Series([pd.Timestamp("2026-01-01"), None], dtype=object), "text"),
    (pd.Series([True, None], dtype=object), "text"),
])
def test_column_type_comes_from_the_dtype(values: object, expected: str) -> None:
    assert pg_type(pd.Series(values).dtype) == expected


def _frame(geoms: list[object]) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({"name": pd.Series(["甲", None, ""][:n], dtype=object),
                             "when": pd.Series([pd.Timestamp("2026-01-01"), None, None][:n],
                                               dtype=object)},
                            geometry=gpd.GeoSeries(geoms, crs=4490))


def test_arrow_table_for_copy() -> None:
    point = shapely.Point(110.1, 19.5)
    table = to_arrow(_frame([point, None, point]))
    assert table.column("name").to_pylist() == ["甲", None, ""]
    assert table.column("when").to_pylist() == ["2026-01-01 00:00:00", None, None]
    hexed = table.column("geometry").to_pylist()
    assert hexed[1] is None
    assert hexed[0].upper() == shapely.to_wkb(shapely.set_srid(point, 4490), hex=True,
                                              include_srid=True)
    assert geometry_type(_frame([point, None, point])) == "geometry(Point, 4490)"
    mixed = _frame([point, shapely.box(0, 0, 1, 1), None])
    assert geometry_type(mixed) == "geometry(Geometry, 4490)"


def test_geometry_kinds_name_each_kind_as_geopandas_does() -> None:
    shapes = [shapely.Point(0, 0), shapely.LineString([(0, 0), (1, 1)]),
              shapely.LinearRing([(0, 0), (1, 0), (1, 1)]), shapely.box(0, 0, 1, 1),
              shapely.MultiPoint([(0, 0)]), shapely.MultiLineString([[(0, 0), (1, 1)]]),
              shapely.MultiPolygon([shapely.box(0, 0, 1, 1)]),
              shapely.GeometryCollection([shapely.Point(0, 0)])]
    for shape in shapes:
        one = gpd.GeoDataFrame(geometry=[shape, None], crs=4490)
        assert geometry_kinds(one) == set(one.geometry.dropna().geom_type), shape.wkt
    assert geometry_kinds(gpd.GeoDataFrame(geometry=shapes, crs=4490)) == {
        "Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
        "MultiPolygon", "GeometryCollection"}
    assert geometry_kinds(gpd.GeoDataFrame(geometry=[None], crs=4490)) == set()


def test_arrow_table_refuses_another_crs() -> None:
    frame = _frame([shapely.Point(500000, 2100000)]).set_crs(4545, allow_override=True)
    with pytest.raises(ValueError, match="EPSG:4490"):
        to_arrow(frame)


def test_core_rows_are_arrow_text() -> None:
    contract = load_contract("complaints")
    frame = gpd.GeoDataFrame({"gdbh": pd.Series([46010, None], dtype=object)},
                             geometry=[shapely.Point(110, 19), None], crs=4490)
    typed = conform_types(contract, frame)
    assert str(typed["gdbh"].dtype) == "string" and typed["gdbh"].tolist() == ["46010", pd.NA]
    assert to_arrow(typed).column("gdbh").to_pylist() == ["46010", None]


def test_parse_copy_text() -> None:
    wkb = shapely.to_wkb(shapely.Point(1, 2), include_srid=False)
    line = "\t".join([r"a\tb\\c\nd", r"\N", "", "t", r"\N", "2026-11-16 12:00:00.5+00",
                      "2026-01-02", binascii.hexlify(wkb).decode().upper()])
    types = {"s": pa.string(), "n": pa.string(), "e": pa.string(), "b": pa.bool_(),
             "i": pa.int64(), "ts": pa.timestamp("us", tz="UTC"), "d": pa.date32(),
             "geom": pa.large_string()}
    row = _parse_text((line + "\n").encode(), types).to_pylist()[0]
    assert row["s"] == "a\tb\\c\nd" and row["n"] is None and row["e"] == ""
    assert row["b"] is True and row["i"] is None
    assert row["ts"] == pd.Timestamp("2026-11-16 12:00:00.5", tz="UTC")
    assert str(row["d"]) == "2026-01-02"
    empty = _parse_text(b"", types)
    assert empty.num_rows == 0 and empty.schema.field("i").type == pa.int64()
