"""Rows not loaded, and rows loaded with a warning, kept in `dq.quarantine` with their reasons
and the row itself (personal data already tokenised), for the department and the monitors."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, insert

from pipelines.contracts import Contract
from pipelines.validate.suite import ROW_ID_COLUMN
from pipelines.warehouse import Warehouse

WKT_CHARS = 2000  # enough to see where a geometry is; the raw file keeps the whole of it


def records_by_row(frame: gpd.GeoDataFrame, failures: pd.DataFrame) -> dict[int, str]:
    """The failing rows as JSON, keyed by source row."""
    rows = frame[frame[ROW_ID_COLUMN].isin(set(failures["source_row"].astype(int)))]
    out: dict[int, str] = {}
    geom = rows.geometry.name
    for rec in rows.to_dict(orient="records"):
        g = rec.pop(geom)
        rec["geometry_wkt"] = None if g is None else g.wkt[:WKT_CHARS]
        out[int(rec[ROW_ID_COLUMN])] = json.dumps(rec, ensure_ascii=False, default=str)
    return out


def store_quarantine(conn: Connection, wh: Warehouse, drop_id: str, contract: Contract,
                     failures: pd.DataFrame, records: dict[int, str]) -> None:
    if failures.empty:
        return
    rows = [{"drop_id": drop_id, "dataset": contract.dataset,
             "source_row": int(f.source_row), "field": f.field, "rule": f.rule,
             "severity": f.severity, "message": f.message,
             "value": None if f.value is None or pd.isna(f.value) else str(f.value),
             "record": records.get(int(f.source_row))}
            for f in failures.itertuples()]
    conn.execute(insert(wh.tables.quarantine), rows)


def not_already_failed(found: pd.DataFrame, at_read: pd.DataFrame) -> pd.DataFrame:
    """Validation's failures minus those on a cell reading already refused: a USCC Excel
    turned into 9.1E+17 is one mistake for the clerk to fix (damaged_code), not three
    (damaged_code, pattern, uscc_check)."""
    if found.empty or at_read.empty:
        return found
    refused = pd.MultiIndex.from_frame(at_read[["source_row", "field"]].astype({"source_row": int}))
    cells = pd.MultiIndex.from_frame(found[["source_row", "field"]].astype({"source_row": int}))
    return found[~cells.isin(refused)]
