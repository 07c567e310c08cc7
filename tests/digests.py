"""Order-independent digests of what a warehouse holds, so tests compare two warehouses (CLI
against Airflow, incremental against --full, after a crash against a clean run) by content."""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

Digests = dict[str, tuple[int, str]]


def published_digest(wh: Any) -> Digests:
    """Per published layer, read through the warehouse API (GeoPackage or PostGIS): rows and
    a digest of every row's content, its fid left out."""
    out = {}
    for name in sorted(wh.published_layers()):
        gdf = wh.read_published(name)
        cols = sorted(c for c in gdf.columns if c != "fid")
        rows = sorted(hashlib.sha256(repr([v.wkb_hex if hasattr(v, "wkb_hex") else
                                           (None if pd.isna(v) else str(v)) for v in row]
                                          ).encode()).hexdigest()
                      for row in gdf[cols].itertuples(index=False))
        out[name] = (len(gdf), hashlib.sha256("".join(rows).encode()).hexdigest())
    return out


def table_digests(url: str, schemas: tuple[str, ...], leave_out: frozenset[str]) -> Digests:
    """Per base table of `schemas` on PostGIS, digested by the server: rows and an md5 over
    the sorted md5s of each row, the columns in `leave_out` (run-specific ids) left out."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {f"{schema}.{table}": _table_digest(conn, schema, table, leave_out)
                    for schema, table in conn.execute(text(
                        "SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_schema = ANY(:s) AND table_type = 'BASE TABLE' "
                        "ORDER BY 1, 2"), {"s": list(schemas)})}
    finally:
        engine.dispose()


def _table_digest(conn: Connection, schema: str, table: str,
                  leave_out: frozenset[str]) -> tuple[int, str]:
    cols = [c for (c,) in conn.execute(text(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s "
        "AND table_name = :t ORDER BY ordinal_position"), {"s": schema, "t": table})
        if c not in leave_out]
    row = ", ".join(f'"{c}"' for c in cols)
    n, digest = conn.execute(text(
        f"SELECT count(*), md5(coalesce(string_agg(h, '' ORDER BY h), '')) FROM "
        f'(SELECT md5(ROW({row})::text) AS h FROM "{schema}"."{table}") t')).one()
    return int(n), str(digest)
