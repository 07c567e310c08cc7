"""What the quarterly assessment reads beyond the integration's inputs: the deliveries (drops
ledger, rows loaded per county in core's history, rows refused in dq.quarantine) and the
permanent farmland balance of every delivery (dq.farmland_pbf_changes).

Each is one aggregate query per dataset, the same SQL on PostGIS and on the GeoPackage.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd
from sqlalchemy import bindparam, func, select, text

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


COUNTS = ["drop_id", "answered_at", "county_code", "rows", "rejected"]


def delivery_counts(wh: Warehouse, known: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per answered delivery (`drop_id`, and `answered_at`: when it was answered) and the
    county its rows state: rows delivered and rows refused (quarantined). Loaded rows are
    as the load noted them (or counted in core's history, every version a drop loaded), so
    a quarter's figures do not move with later deliveries.

    An answered drop's counts never change until it is answered again (its rows and refusals
    are written with its answer), so `known` (what an earlier publish counted, `COUNTS`
    columns) is taken for every drop answered at the same moment, and only the others are
    counted, through the indexes on drop ids: a daily delivery does not scan a province's
    core history and quarantine on every publish."""
    records = _answered_drops(wh)
    drops = _answered(wh, records)
    # Rows loaded per county, noted by the load (`load._note_rows`): a snapshot's kept rows
    # are another drop's versions. A drop loaded before it noted them is counted in core.
    counted = {d.drop_id: d.notes.get("rows_by_county") for d in records}
    known = known if known is not None else pd.DataFrame(columns=COUNTS)
    stamp = drops.set_index("drop_id")["answered_at"]
    # a drop is taken whole, or counted again when any of its rows has another stamp
    stale = known["drop_id"][known["drop_id"].map(stamp).ne(known["answered_at"]).to_numpy()]
    kept = known[~known["drop_id"].isin(set(stale)).to_numpy()]
    todo = drops[~drops["drop_id"].isin(set(kept["drop_id"]))]
    parts = [kept[COUNTS]]
    for contract in all_contracts():
        column = contract.county_column
        mine = todo[todo["dataset"] == contract.dataset]
        if column is None or mine.empty:
            continue
        ids = list(mine["drop_id"])
        loaded = [d for d, state in zip(ids, mine["state"], strict=True) if state == "loaded"]
        noted = [(d, c, n) for d in loaded for c, n in (counted.get(d) or {}).items()]
        parts.append(pd.DataFrame(noted, columns=["drop_id", "county_code", "rows"]).assign(
            rejected=0))
        loaded = [d for d in loaded if counted.get(d) is None]
        if loaded:  # (a GeoPackage makes the table on first load)
            parts.append(_counted(wh, (
                f"SELECT _drop_id AS drop_id, substr({column}, 1, 6) AS county_code, "
                f"COUNT(*) AS rows FROM {_core_table(wh, contract.dataset)} "
                f"WHERE _drop_id IN :ids GROUP BY 1, 2"), loaded, ["drop_id", "county_code", "rows"]
            ).assign(rejected=0))
        parts.append(_refused(wh, contract.dataset, column, ids))
    rows = pd.concat([p for p in parts if len(p)] or [pd.DataFrame(columns=COUNTS)],
                     ignore_index=True)
    rows = rows.drop(columns=["answered_at"], errors="ignore").merge(
        drops[["drop_id", "answered_at"]], on="drop_id")
    rows = rows.groupby(["drop_id", "answered_at", "county_code"], as_index=False)[
        ["rows", "rejected"]].sum()
    return rows.astype({"rows": "int64", "rejected": "int64"})[COUNTS]


def delivery_rows(wh: Warehouse, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per answered delivery and the county its rows state, with the delivery's dataset and
    receipt (local time): rows delivered and rows refused (`delivery_counts`, or `counts`
    made by it)."""
    drops = _answered(wh)
    counts = delivery_counts(wh) if counts is None else counts
    out = counts.drop(columns=["answered_at"]).merge(drops, on="drop_id")
    out["received_at"] = local(out["received_at"])
    return out[["drop_id", "dataset", "received_at", "county_code", "rows", "rejected"]]


def _answered_drops(wh: Warehouse) -> list[ledger.DropRecord]:
    return [d for d in ledger.list_drops(wh) if d.state in ANSWERED]


def _answered(wh: Warehouse, records: list[ledger.DropRecord] | None = None) -> pd.DataFrame:
    records = _answered_drops(wh) if records is None else records
    return pd.DataFrame([{"drop_id": d.drop_id, "dataset": d.dataset, "state": d.state,
                          "received_at": d.received_at, "answered_at": str(d.processed_at)}
                         for d in records],
                        columns=["drop_id", "dataset", "state", "received_at", "answered_at"])


def _counted(wh: Warehouse, query: str, ids: list[str], columns: list[str]) -> pd.DataFrame:
    """Rows of an aggregate `query` over the drops `ids` (bound as `:ids`)."""
    bound = text(query).bindparams(bindparam("ids", expanding=True))
    with wh.engine.connect() as conn:
        return pd.DataFrame(conn.execute(bound, {"ids": ids}).all(), columns=columns)


def _refused(wh: Warehouse, dataset: str, column: str, ids: list[str]) -> pd.DataFrame:
    """Rows of the drops `ids` of a dataset refused (a source row once, however many rules it
    failed), by the county each states. The county is cut out of the stored record by the
    server: a province's quarantine is not shipped to Python and parsed. Records are
    `json.dumps` output, so a field reads `"xzqdm": "460105"`; quotes inside values are
    escaped, so the pattern cannot match inside one."""
    t = wh.tables.quarantine
    needle = f'"{column}": "'
    if t.schema:  # PostGIS
        county = f"substring(record from '{needle}([^\"]{{1,6}})')"
    else:
        county = (f"CASE WHEN instr(record, '{needle}') > 0 THEN substr(record, "
                  f"instr(record, '{needle}') + {len(needle)}, 6) END")
    refused = _counted(wh, (
        f"SELECT drop_id, county_code, COUNT(DISTINCT source_row) AS rejected FROM "
        f"(SELECT drop_id, source_row, {county} AS county_code FROM {t.fullname} "
        f"WHERE drop_id IN :ids) AS q WHERE county_code IS NOT NULL GROUP BY 1, 2"),
        ids, ["drop_id", "county_code", "rejected"])
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


def build_assessment(wh: Warehouse, inputs: Inputs, as_of: datetime,
                     counts: pd.DataFrame | None = None) -> gpd.GeoDataFrame:
    """The county_assessment layer of what the warehouse holds now (`counts`: the
    deliveries' counts, as `delivery_counts` gives them now)."""
    region = load_region()
    return county_assessment(
        inputs.counties, inputs.complaints, inputs.licenses, delivery_rows(wh, counts),
        pbf_areas(wh), as_of, region.targets, ResponseRule.from_region(region.response_rule),
        WorkCalendar())


__all__ = ["ASSESSED_FROM", "COUNTS", "build_assessment", "delivery_counts", "delivery_rows",
           "ledger_version", "pbf_areas"]
