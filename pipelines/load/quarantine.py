"""Rows not loaded, and rows loaded with a warning, kept in `dq.quarantine` with their reasons
and the row itself (personal data already tokenised), for the department and the monitors."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert

from pipelines.contracts import Contract
from pipelines.validate.suite import ROW_ID_COLUMN
from pipelines.warehouse import Warehouse

WKT_CHARS = 2000  # enough to see where a geometry is; the raw file keeps the whole of it


# Failing rows turned into stored records at a time: the records of a file rejected whole
# (every row of a 300,000-row export) would otherwise be held at once, 1.3 GB of dicts and
# JSON text beside the frame; in chunks they cost what one chunk costs.
CHUNK_ROWS = 20_000


def _records(rows: gpd.GeoDataFrame) -> dict[int, str]:
    """Rows of the conformed frame as JSON, keyed by source row."""
    plain = pd.DataFrame(rows.drop(columns=rows.geometry.name))
    # Arrow-backed strings iterate one Python call per cell in to_dict; as object arrays
    # (same values, pd.NA where missing) the records are built at C speed.
    plain = plain.astype({c: object for c, t in plain.dtypes.items()
                          if isinstance(t, pd.StringDtype)})
    wkt = [None if g is None else g.wkt[:WKT_CHARS] for g in rows.geometry.array]
    out: dict[int, str] = {}
    for rec, g in zip(plain.to_dict(orient="records"), wkt, strict=True):
        rec["geometry_wkt"] = g
        out[int(rec[ROW_ID_COLUMN])] = json.dumps(rec, ensure_ascii=False, default=str)
    return out


def store_quarantine(conn: Connection, wh: Warehouse, drop_id: str, contract: Contract,
                     failures: pd.DataFrame, frame: gpd.GeoDataFrame) -> None:
    """Every failure with its row as read, in chunks of CHUNK_ROWS failing rows."""
    if failures.empty:
        return
    by_row = failures.assign(source_row=failures["source_row"].astype(int)).sort_values(
        "source_row", kind="stable")
    keys = by_row["source_row"].to_numpy()
    rows = np.unique(keys)
    # where each failing row is in the frame, found once (-1: a row the frame does not hold)
    at = pd.Index(frame[ROW_ID_COLUMN].to_numpy()).get_indexer(rows)
    for start in range(0, len(rows), CHUNK_ROWS):
        these = rows[start:start + CHUNK_ROWS]
        lo, hi = np.searchsorted(keys, these[0], "left"), np.searchsorted(keys, these[-1], "right")
        positions = at[start:start + CHUNK_ROWS]
        records = _records(frame.iloc[positions[positions >= 0]])
        conn.execute(insert(wh.tables.quarantine), [
            {"drop_id": drop_id, "dataset": contract.dataset, "source_row": f.source_row,
             "field": f.field, "rule": f.rule, "severity": f.severity, "message": f.message,
             "value": None if f.value is None or pd.isna(f.value) else str(f.value),
             "record": records.get(f.source_row)}
            for f in by_row.iloc[lo:hi].itertuples()])


def not_already_failed(found: pd.DataFrame, at_read: pd.DataFrame) -> pd.DataFrame:
    """Validation's failures minus those on a cell reading already refused: a USCC Excel
    turned into 9.1E+17 is one mistake for the clerk to fix (damaged_code), not three
    (damaged_code, pattern, uscc_check)."""
    if found.empty or at_read.empty:
        return found
    refused = pd.MultiIndex.from_frame(at_read[["source_row", "field"]].astype({"source_row": int}))
    cells = pd.MultiIndex.from_frame(found[["source_row", "field"]].astype({"source_row": int}))
    return found[~cells.isin(refused)]
