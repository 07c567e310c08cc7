"""What the quarterly assessment reads beyond the integration's inputs: the deliveries (drops
ledger, rows loaded per county in core's history, rows refused in dq.quarantine) and the
permanent farmland balance of every delivery (dq.farmland_pbf_changes).

Each is one aggregate query per dataset, the same SQL on PostGIS and on the GeoPackage.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy import func, select, text

from pipelines.contracts import all_contracts, load_region
from pipelines.integrate.assessment import county_assessment, local
from pipelines.integrate.inputs import Inputs
from pipelines.integrate.workdays import ResponseRule, WorkCalendar
from pipelines.warehouse import Warehouse, ledger

ANSWERED = ("loaded", "rejected")  # deliveries with an answer about their rows
ASSESSED_FROM = "assessed_from"  # audit.meta: the ledger version the assessment was built from


def _core_table(wh: Warehouse, dataset: str) -> str:
    # the ledger's own table tells the layout: schemas on PostGIS, prefixes in a GeoPackage
    return f"core.{dataset}" if wh.tables.drops.schema else f"core__{dataset}"


def ledger_version(wh: Warehouse) -> str:
    """The answered deliveries, counted, and the last answer: a rejected file changes the
    assessment's quality figures without changing core."""
    t = wh.tables.drops
    with wh.engine.connect() as conn:
        count, last = conn.execute(select(func.count(), func.max(t.c.processed_at))
                                   .where(t.c.state.in_(ANSWERED))).one()
    return f"{count}:{last}"


def delivery_rows(wh: Warehouse) -> pd.DataFrame:
    """Per answered delivery and the county its rows state: rows delivered and rows refused
    (quarantined). Loaded rows are counted in core's history (every version a drop loaded,
    replaced since or not), so a quarter's figures do not move with later deliveries."""
    drops = pd.DataFrame([{"drop_id": d.drop_id, "dataset": d.dataset, "state": d.state,
                           "received_at": d.received_at} for d in ledger.list_drops(wh)
                          if d.state in ANSWERED],
                         columns=["drop_id", "dataset", "state", "received_at"])
    parts = []
    for contract in all_contracts():
        column = contract.county_column
        mine = drops[drops["dataset"] == contract.dataset]
        if column is None or mine.empty:
            continue
        if (mine["state"] == "loaded").any():  # (a GeoPackage makes the table on first load)
            loaded = wh.read_table(
                f"SELECT _drop_id AS drop_id, substr({column}, 1, 6) AS county_code, "
                f"COUNT(*) AS rows FROM {_core_table(wh, contract.dataset)} GROUP BY 1, 2")
            parts.append(loaded.assign(rejected=0))
        parts.append(_refused(wh, contract.dataset, column))
    rows = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["drop_id", "county_code", "rows", "rejected"])
    rows = rows.groupby(["drop_id", "county_code"], as_index=False)[["rows", "rejected"]].sum()
    out = rows.merge(drops, on="drop_id")
    out["received_at"] = local(out["received_at"])
    return out[["drop_id", "dataset", "received_at", "county_code", "rows", "rejected"]]


def _refused(wh: Warehouse, dataset: str, column: str) -> pd.DataFrame:
    """Rows of the dataset's drops refused (a source row once, however many rules it failed),
    by the county each states. The county is cut out of the stored record by the server: a
    province's quarantine is not shipped to Python and parsed on every publish. Records are
    `json.dumps` output, so a field reads `"xzqdm": "460105"`; quotes inside values are
    escaped, so the pattern cannot match inside one."""
    t = wh.tables.quarantine
    needle = f'"{column}": "'
    if t.schema:  # PostGIS
        county = f"substring(record from '{needle}([^\"]{{1,6}})')"
    else:
        county = (f"CASE WHEN instr(record, '{needle}') > 0 THEN substr(record, "
                  f"instr(record, '{needle}') + {len(needle)}, 6) END")
    query = text(f"SELECT drop_id, county_code, COUNT(DISTINCT source_row) AS rejected FROM "
                 f"(SELECT drop_id, source_row, {county} AS county_code FROM {t.fullname} "
                 f"WHERE dataset = :dataset) AS q WHERE county_code IS NOT NULL GROUP BY 1, 2")
    with wh.engine.connect() as conn:
        refused = pd.DataFrame(conn.execute(query, {"dataset": dataset}).all(),
                               columns=["drop_id", "county_code", "rejected"])
    return refused.assign(rows=refused["rejected"])


def pbf_areas(wh: Warehouse) -> pd.DataFrame:
    """Per loaded permanent-farmland delivery and county: the area it left (at its receipt)."""
    t, d = wh.tables.pbf_changes, wh.tables.drops
    query = (select(d.c.received_at, t.c.county_code, t.c.area_after_mu)
             .join(d, d.c.drop_id == t.c.drop_id).where(d.c.state == "loaded"))
    with wh.engine.connect() as conn:
        found = pd.DataFrame(conn.execute(query).all(),
                             columns=["at", "county_code", "area_mu"])
    found["at"] = local(found["at"])
    return found


def build_assessment(wh: Warehouse, inputs: Inputs, as_of: datetime) -> gpd.GeoDataFrame:
    """The county_assessment layer of what the warehouse holds now."""
    region = load_region()
    return county_assessment(
        inputs.counties, inputs.complaints, inputs.licenses, delivery_rows(wh), pbf_areas(wh),
        as_of, region.targets, ResponseRule.from_region(region.response_rule), WorkCalendar())


__all__ = ["ASSESSED_FROM", "build_assessment", "delivery_rows", "ledger_version", "pbf_areas"]
