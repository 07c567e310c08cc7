"""Frames into and out of PostGIS through COPY, column by column through Arrow.

Writing: the frame becomes an Arrow table, Arrow's CSV writer (C++) renders it a batch at a
time and psycopg streams the text into `COPY ... FROM STDIN (FORMAT CSV)`; geometries travel
as hex EWKB with SRID 4490, which PostGIS's geometry input takes as is. Binary COPY (psycopg's
`write_row` with `set_types`, geometry as EWKB bytes) was measured against this at 200k work
orders: psycopg builds each binary row in Python, and the load took about twice as long.

Reading: `COPY (query) TO STDOUT` (the text format) parsed by Arrow's CSV reader with the
column types the server describes (never guessed from the data), then `shapely.from_wkb` on
the geometry column. geopandas.read_postgis builds a Python row object and a shapely geometry
per row; this does neither.

Arrow and psycopg have no fast path between them (psycopg speaks rows; ADBC speaks Arrow but
only on a connection of its own, outside the transaction a load shares with its ledger), so
the glue below is written by hand, to what PostgreSQL documents of COPY's CSV input (unquoted
empty = NULL, quoted "" = empty text) and text output (\\N = NULL, backslash escapes).

A read that needs no transaction of the caller's (`read_arrow`: the current rows of core,
published layers, a drop's versions) goes through ADBC's PostgreSQL driver instead, which
reads binary COPY into Arrow in C: psycopg hands COPY's output over one row per Python call,
a third of a whole read at a province's size; ADBC takes half the CPU of `copy_out` and
gives the same frame (`tests/integration/test_warehouse_io.py`).
"""

from __future__ import annotations

import binascii
from typing import Any

import adbc_driver_manager.dbapi as adbc_dbapi
import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import shapely
from psycopg import Connection, sql

from pipelines.warehouse.adbc_pool import connection

SRID = 4490
BATCH_ROWS = 50_000  # rows rendered and sent at a time: bounds the text held in memory

# Arrow type of a result column by the type OID the server describes it with; other types
# (numeric, uuid, json, arrays ...) arrive as their text. Integers widen to int64 and reals
# to float64, as psycopg + pandas did.
_ARROW_OF_OID: dict[int, pa.DataType] = {
    16: pa.bool_(), 20: pa.int64(), 21: pa.int64(), 23: pa.int64(), 700: pa.float64(),
    701: pa.float64(), 1082: pa.date32(), 1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


def pg_type(dtype: Any) -> str:
    """The column type a published column gets, from its dtype alone: a column is typed the
    same whatever rows it holds (an object column is text, even when all its values are
    dates or empty; the caller types columns from the layer contracts)."""
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return "double precision"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return "timestamptz"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "timestamp"
    return "text"


# shapely's type ids, in order (shapely.GeometryType)
_KINDS = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString",
          "MultiPolygon", "GeometryCollection")


def geometry_kinds(frame: gpd.GeoDataFrame) -> set[str]:
    """The kinds of the frame's geometries (missing ones aside), from shapely's type ids:
    `GeoSeries.geom_type` makes a string per row, seconds for a province's layers."""
    ids = shapely.get_type_id(np.asarray(frame.geometry.array, dtype=object))
    return {_KINDS[i] for i in np.unique(ids) if i >= 0}


def geometry_type(frame: gpd.GeoDataFrame) -> str:
    """`geometry(Kind, 4490)` when every geometry is of one kind, else any geometry."""
    kinds = geometry_kinds(frame)
    return f"geometry({kinds.pop() if len(kinds) == 1 else 'Geometry'}, {SRID})"


def _check_crs(frame: gpd.GeoDataFrame) -> None:
    crs = frame.crs
    if crs is not None and crs.to_epsg() != SRID:
        raise ValueError(f"geometries in {crs.name}, the warehouse stores EPSG:{SRID}")


def _arrow_column(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    if pg_type(values.dtype) == "text":
        values = values.astype("string[pyarrow]")  # by dtype, as pg_type said: str() of each
    return pa.array(values, from_pandas=True)


def to_arrow(frame: gpd.GeoDataFrame) -> pa.Table:
    """The frame as COPY takes it: attributes by dtype, the geometry as hex EWKB text."""
    _check_crs(frame)
    geom = frame.geometry.name
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in frame.columns:
        if name == geom:
            wkb = shapely.to_wkb(shapely.set_srid(np.asarray(frame.geometry.values), SRID),
                                 include_srid=True)
            columns[name] = _hex(pa.array(wkb, type=pa.large_binary()))
        else:
            columns[name] = _arrow_column(frame[name])
    return pa.table(columns)


def copy_in(conn: Connection[Any], schema: str, table: str, frame: gpd.GeoDataFrame) -> None:
    """Append the frame's rows to schema.table (same column names) in the caller's
    transaction."""
    data = to_arrow(frame)
    stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT CSV)").format(
        sql.Identifier(schema, table), sql.SQL(", ").join(map(sql.Identifier, data.column_names)))
    options = pacsv.WriteOptions(include_header=False)
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for batch in data.to_batches(max_chunksize=BATCH_ROWS):
            sink = pa.BufferOutputStream()
            pacsv.write_csv(batch, sink, options)
            copy.write(memoryview(sink.getvalue()))


def copy_out(conn: Connection[Any], query: sql.Composable, params: dict[str, Any] | None = None,
             geometry: str = "geom") -> gpd.GeoDataFrame:
    """The rows of `query` (its column `geometry` a PostGIS geometry), in the caller's
    transaction. Timestamps with time zone come back in UTC."""
    with conn.cursor() as cur:
        cur.execute("SELECT set_config('TimeZone', 'UTC', true)")
        cur.execute(sql.SQL("SELECT * FROM ({}) AS q LIMIT 0").format(query), params)
        described = [(d.name, d.type_code) for d in cur.description or []]
        with cur.copy(sql.SQL("COPY ({}) TO STDOUT").format(query), params) as copy:
            text = b"".join(copy)
    types = {name: pa.large_string() if name == geometry else _ARROW_OF_OID.get(oid, pa.string())
             for name, oid in described}
    table = _parse_text(text, types)
    wkb = pa.chunked_array([_unhex(c) for c in table.column(geometry).chunks],
                           type=pa.large_binary()).to_numpy(zero_copy_only=False)
    table = table.drop_columns([geometry])
    frame = table.to_pandas()
    position = [name for name, _ in described].index(geometry)
    frame.insert(position, geometry, gpd.GeoSeries(shapely.from_wkb(wkb), crs=SRID))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=SRID)


# Hex EWKB is what PostGIS reads and writes as geometry text. shapely's own hex reader and
# writer convert geometry by geometry, 4-5x slower than binascii over a whole Arrow buffer at
# once, so the two helpers below swap an array's data buffer and halve or double its offsets.
def _hex(binary: pa.Array) -> pa.Array:
    validity, offsets, data = binary.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[:binary.offset + len(binary) + 1]
    text = binascii.hexlify(memoryview(data)[ends[0]:ends[-1]]) if data else b""
    return pa.Array.from_buffers(pa.large_string(), len(binary), [
        validity, pa.py_buffer((ends - ends[0]) * 2), pa.py_buffer(text)], offset=binary.offset)


def _unhex(hexed: pa.Array) -> pa.Array:
    validity, offsets, data = hexed.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[:hexed.offset + len(hexed) + 1]
    raw = binascii.unhexlify(memoryview(data)[ends[0]:ends[-1]]) if data else b""
    return pa.Array.from_buffers(pa.large_binary(), len(hexed), [
        validity, pa.py_buffer((ends - ends[0]) // 2), pa.py_buffer(raw)], offset=hexed.offset)


def _parse_text(text: bytes, types: dict[str, pa.DataType]) -> pa.Table:
    """COPY's text format: tab-separated, NULL as \\N, no quoting, so Arrow splits rows and
    fields without looking for quoted newlines (CSV output would need that: 2-3x the CPU)."""
    if not text:  # Arrow refuses an empty file; no rows is an empty table of the same types
        return pa.schema(list(types.items())).empty_table()
    table = pacsv.read_csv(
        pa.py_buffer(text),
        read_options=pacsv.ReadOptions(column_names=list(types)),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types=types, null_values=["\\N"], strings_can_be_null=True,
            true_values=["t"], false_values=["f"]))
    if b"\\" not in text:  # nothing escaped anywhere, as with most deliveries
        return table
    for i, field in enumerate(table.schema):
        if field.type == pa.string():
            table = table.set_column(i, field, _unescape(table.column(i)))
    return table


# The escapes COPY's text format writes (and only these: other control characters go as
# they are); a backslash itself is doubled. NUL never occurs in PostgreSQL text, so it holds
# the place of an escaped backslash while the others are replaced.
_ESCAPES = (("\\n", "\n"), ("\\r", "\r"), ("\\t", "\t"), ("\\b", "\b"), ("\\f", "\f"),
            ("\\v", "\v"))


def _unescape(values: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pc.any(pc.match_substring(values, "\\")).as_py():
        return values
    values = pc.replace_substring(values, "\\\\", "\x00")
    for escaped, char in _ESCAPES:
        values = pc.replace_substring(values, escaped, char)
    return pc.replace_substring(values, "\x00", "\\")


class NotArrowReadable(TypeError):
    """A result column of a type `copy_out` reads as text (numeric, uuid, arrays ...): the
    caller reads it through `copy_out` instead."""


def read_arrow(uri: str, query: str, geometry: str = "geom") -> gpd.GeoDataFrame:
    """The rows of `query` (SQL text, parameters bound; its column `geometry` a PostGIS
    geometry) on an ADBC connection of its own (`adbc_pool`), as `copy_out` returns them:
    integers as int64, reals as float64, timestamps with time zone in UTC. Raises
    NotArrowReadable for a column type `copy_out` would hand back as text."""
    try:
        table = _fetched(uri, query, reuse=True)
    except adbc_dbapi.OperationalError:  # a kept connection the server has closed since
        table = _fetched(uri, query, reuse=False)
    column = table.column(geometry)
    # PostGIS's geometry arrives as an opaque extension type over its binary form (EWKB)
    wkb = pa.chunked_array([c.storage if isinstance(c, pa.ExtensionArray) else c
                            for c in column.chunks], type=pa.binary())
    position = table.schema.get_field_index(geometry)
    table = table.drop_columns([geometry])
    for i, field in enumerate(table.schema):
        wanted = _copy_out_type(field.type)
        if wanted != field.type:
            table = table.set_column(i, pa.field(field.name, wanted),
                                     table.column(i).cast(wanted))
    frame = table.to_pandas()
    frame.insert(position, geometry, gpd.GeoSeries(
        shapely.from_wkb(wkb.to_numpy(zero_copy_only=False)), crs=SRID))
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=SRID)


def _fetched(uri: str, query: str, reuse: bool) -> pa.Table:
    with connection(uri, reuse) as conn, conn.cursor() as cur:  # (kept for the next read)
        cur.execute(query)
        return cur.fetch_arrow_table()


def _copy_out_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type `copy_out` gives a column ADBC read as `t` (`_ARROW_OF_OID`)."""
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_boolean(t) or pa.types.is_date32(t):
        return t
    if pa.types.is_timestamp(t) and t.unit == "us" and t.tz in (None, "UTC"):
        return t
    raise NotArrowReadable(f"a result column of Arrow type {t}")
