"""Publish by difference on PostGIS: change only the rows of a published layer that differ.

A daily delivery of work orders changes a few thousand of the million rows of
`complaints_enriched` and `enterprise_profile`; rewriting them whole (a new table, every row
copied, two GiST indexes built from scratch) cost most of a daily run. Instead the rows are
compared by a content hash (every column and the geometry's WKB), as a multiset (identical
rows may repeat): published rows no longer in the new layer are deleted by fid, new rows not
yet published are inserted with fids from the table's sequence, equal rows stay where they
are with their fid (an analyst's selection in QGIS survives a publish).

The hashes of the published rows live in the warehouse beside the layer, in
`audit.published_rows` (layer, fid, h1, h2) and per layer `audit.published_layers` (the table
they describe, its columns, its row count); both change in the transaction that changes the
layer, so they always describe what readers see. Only the loader reads them (`audit` is not
granted to the analyst roles). When that record is missing or does not describe the table
(another table under the name, another row count, other columns or labels), or when more
rows differ than stay, the caller swaps the layer in whole and records it afresh
(`record_whole`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from psycopg import Connection, sql

from pipelines.warehouse.pgcopy import copy_in, geometry_type, pg_type

log = logging.getLogger(__name__)

# Two hashes of 64 bits under different keys: 128 bits per row, so two different rows of a
# million-row layer hashing alike is out of reach (2^-64 or so), not merely unlikely.
HASH_KEYS = ("yitu.publish.h1", "yitu.publish.h2")
Hashes = npt.NDArray[np.int64]  # shape (rows, 2): h1, h2 (uint64 bits as PostgreSQL's bigint)

PUBLISHED_ROWS_DDL = """
CREATE TABLE IF NOT EXISTS audit.published_layers (
    layer text PRIMARY KEY,
    relation oid NOT NULL,
    columns text NOT NULL,
    row_count bigint NOT NULL
);
COMMENT ON TABLE audit.published_layers IS
    'per published layer: the table its row hashes describe (oid), its columns, its rows';
CREATE TABLE IF NOT EXISTS audit.published_rows (
    layer text NOT NULL REFERENCES audit.published_layers ON DELETE CASCADE,
    fid bigint NOT NULL,
    h1 bigint NOT NULL,
    h2 bigint NOT NULL,
    PRIMARY KEY (layer, fid)
);
COMMENT ON TABLE audit.published_rows IS
    'content hash of every published row by fid: what a publish by difference compares';
"""


def _hash_keys(key: str) -> str:
    """pandas takes a 16-character hash key."""
    return (key * 2)[:16]


def row_hashes(frame: gpd.GeoDataFrame) -> Hashes:
    """Per row, a 128-bit hash of every column, in order, and the geometry's WKB. Text
    columns hash as pandas strings, so a missing value and the text 'None' differ."""
    geom = frame.geometry.name
    plain = pd.DataFrame({c: frame[c].astype("string") if frame[c].dtype == object
                          else frame[c] for c in frame.columns if c != geom})
    plain["__wkb"] = shapely.to_wkb(np.asarray(frame.geometry.values))
    out = np.empty((len(frame), 2), dtype=np.uint64)
    for i, key in enumerate(HASH_KEYS):
        out[:, i] = pd.util.hash_pandas_object(plain, index=False,
                                               hash_key=_hash_keys(key)).to_numpy(np.uint64)
    return out.view(np.int64)


def columns_of(data: gpd.GeoDataFrame) -> list[str]:
    """The published table's column definitions (fid aside), from the frame's dtypes: what
    a whole swap would create, and what a table published by difference must already have."""
    def ident(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    geom = data.geometry.name
    return [f"{ident(c)} {geometry_type(data) if c == geom else pg_type(data[c].dtype)}"
            for c in data.columns]


def signature(data: gpd.GeoDataFrame, labels: dict[str, str]) -> str:
    """What a layer's table is made with besides its rows: its columns and the comments its
    labels become. A table published by difference keeps both, so a change of either (a
    contract's new label, say) swaps the layer in whole."""
    return ", ".join(columns_of(data)) + " | " + json.dumps(labels, ensure_ascii=False,
                                                              sort_keys=True)


@dataclass(frozen=True)
class Difference:
    """What publishing a layer by difference changes: the published fids to delete, the new
    layer's rows (by position) to insert, and how many published rows stay."""

    delete: npt.NDArray[np.int64]
    insert: npt.NDArray[np.int64]
    kept: int

    def summary(self) -> str:
        return f"{len(self.insert)} inserted, {len(self.delete)} deleted, {self.kept} kept"


def difference(fids: npt.NDArray[np.int64], published: Hashes, new: Hashes) -> Difference:
    """Multiset difference by hash: the k-th published row of a hash is matched with the k-th
    new row of the same hash; unmatched published rows go, unmatched new rows come."""
    old = pd.DataFrame({"h1": published[:, 0], "h2": published[:, 1], "fid": fids})
    old["k"] = old.groupby(["h1", "h2"], sort=False).cumcount()
    fresh = pd.DataFrame({"h1": new[:, 0], "h2": new[:, 1],
                          "pos": np.arange(len(new), dtype=np.int64)})
    fresh["k"] = fresh.groupby(["h1", "h2"], sort=False).cumcount()
    both = old.merge(fresh, on=["h1", "h2", "k"], how="outer", indicator=True)
    side = both["_merge"]
    return Difference(
        delete=np.sort(both.loc[side == "left_only", "fid"].to_numpy(np.int64)),
        insert=np.sort(both.loc[side == "right_only", "pos"].to_numpy(np.int64)),
        kept=int((side == "both").sum()))


def plan(conn: Connection[Any], name: str, data: gpd.GeoDataFrame, labels: dict[str, str],
         hashes: Hashes) -> Difference | None:
    """How to publish `name` by difference, or None when it must be swapped in whole: no
    record, a record of another table or row count, other columns or labels, or more rows
    differing than staying (a fresh table with its indexes built once is cheaper then)."""
    with conn.cursor() as cur:
        cur.execute("SELECT relation, columns, row_count, to_regclass(%(t)s)::oid "
                    "FROM audit.published_layers WHERE layer = %(n)s",
                    {"n": name, "t": f"publish.{name}"})
        found = cur.fetchone()
        why = None
        if found is None:
            why = "no record of its rows"
        elif found[0] != found[3]:
            why = "the record is of another table"
        elif found[1] != signature(data, labels):
            why = "its columns or their labels changed"
        else:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier("publish", name)))
            count = cur.fetchone()
            if count is None or count[0] != found[2]:
                why = "the record does not match the table's rows"
        if why is None:
            rows = _recorded(conn, name)
            if len(rows) != found[2]:  # type: ignore[index]
                why = "the record does not match the table's rows"
    if why is not None:
        log.info("publish %s: whole (%s)", name, why)
        return None
    change = difference(rows[:, 0], rows[:, 1:], hashes)
    if len(change.delete) + len(change.insert) > change.kept:
        log.info("publish %s: whole (more rows differ than stay: %s)", name, change.summary())
        return None
    return change


def _recorded(conn: Connection[Any], name: str) -> npt.NDArray[np.int64]:
    """(fid, h1, h2) of every recorded row of the layer, in the publish's own transaction, as
    one value: each row's three integers as 24 bytes, concatenated by the server. COPY hands
    psycopg its output one row per Python call: a cProfile of a daily run at 1x spent 27 of its
    157 s there for the 1.7M recorded rows of the two large layers. (Any order: the rows are
    matched as a multiset.)"""
    with conn.cursor() as cur:
        cur.execute("SELECT string_agg(int8send(fid) || int8send(h1) || int8send(h2), "
                    "''::bytea) FROM audit.published_rows WHERE layer = %s", (name,))
        found = cur.fetchone()
    raw = found[0] if found and found[0] else b""
    return np.frombuffer(raw, dtype=">i8").astype(np.int64).reshape(-1, 3)


def apply(conn: Connection[Any], name: str, inserted: gpd.GeoDataFrame | None, hashes: Hashes,
          change: Difference) -> None:
    """Delete and insert the rows `change` says (`inserted`: the new layer's rows at
    `change.insert`, in order; `hashes`: of all its rows), and the record with them, in the
    caller's transaction. Row locks only: readers of the layer are never waited for nor
    blocked."""
    table = sql.Identifier("publish", name)
    with conn.cursor() as cur:
        if len(change.delete):
            gone = change.delete.tolist()
            cur.execute(sql.SQL("DELETE FROM {} WHERE fid = ANY(%s)").format(table), (gone,))
            cur.execute("DELETE FROM audit.published_rows WHERE layer = %s AND fid = ANY(%s)",
                        (name, gone))
        fids = np.zeros(0, dtype=np.int64)
        if len(change.insert):
            if inserted is None or len(inserted) != len(change.insert):
                raise ValueError(f"publish {name}: {len(change.insert)} rows to insert, "
                                 f"{0 if inserted is None else len(inserted)} given")
            cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'fid')) "
                        "FROM generate_series(1, %s)", (f"publish.{name}", len(change.insert)))
            fids = np.array([f for (f,) in cur.fetchall()], dtype=np.int64)
            copy_in(conn, "publish", name, inserted.assign(fid=fids))
        cur.execute("UPDATE audit.published_layers SET row_count = %s WHERE layer = %s",
                    (len(hashes), name))
    _record_rows(conn, name, fids, hashes[change.insert])
    log.info("publish %s: by difference (%s)", name, change.summary())


def record_whole(conn: Connection[Any], name: str, signature_of: str, hashes: Hashes) -> None:
    """The record of a layer just swapped in whole (its fids 1..n in row order, `hashes` of
    its n rows; `signature_of`: its `signature`), replacing any record of the table it
    replaced."""
    with conn.cursor() as cur:
        cur.execute("DELETE FROM audit.published_layers WHERE layer = %s", (name,))
        cur.execute("INSERT INTO audit.published_layers (layer, relation, columns, row_count) "
                    "VALUES (%s, to_regclass(%s)::oid, %s, %s)",
                    (name, f"publish.{name}", signature_of, len(hashes)))
    _record_rows(conn, name, np.arange(1, len(hashes) + 1, dtype=np.int64), hashes)


def _record_rows(conn: Connection[Any], name: str, fids: npt.NDArray[np.int64],
                 hashes: Hashes) -> None:
    """Rows of audit.published_rows through COPY, rendered by Arrow's CSV writer (as
    pgcopy.copy_in renders a layer; that one wants a geometry column, this has none)."""
    if not len(fids):
        return
    table = pa.table({"layer": pa.array(np.full(len(fids), name, dtype=object), pa.string()),
                      "fid": fids, "h1": hashes[:, 0], "h2": hashes[:, 1]})
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    stmt = "COPY audit.published_rows (layer, fid, h1, h2) FROM STDIN (FORMAT CSV)"
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        copy.write(memoryview(sink.getvalue()))
