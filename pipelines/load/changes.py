"""What a loaded drop changed: rows added, removed, changed and unchanged against the state the
dataset had just before it, read back from the versioned core table after the load (the
rows a snapshot kept as they were are read as its own: `versions`).

Permanent basic farmland is a protected resource that must never shrink silently, so each
farmland_pbf delivery also gets a per-county balance (parcels removed, ellipsoidal area before
and after) in dq.farmland_pbf_changes, and every county that lost area is flagged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import delete, insert

from pipelines.contracts import Contract, load_region
from pipelines.geodesy import M2_PER_MU, ellipsoidal_area_m2
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.columns import attribute_columns
from pipelines.warehouse.ledger import DropRecord
from pipelines.warehouse.versions import GEOMETRY, RowDiff, Scope, diff_rows, row_hashes

log = logging.getLogger(__name__)

REMOVED_IDS_CAP = 500  # per county in dq; every removed version stays in core's history anyway
EXAMPLES_CAP = 20  # keys of each kind in the ledger notes, enough to find the rest in core
# Below one square metre a county "loss" is re-projection or rounding noise, not lost farmland.
SHRINK_TOLERANCE_M2 = 1.0


@dataclass(frozen=True)
class DropChanges:
    summary: dict[str, Any]  # goes to the ledger's notes["changes"]
    counties: pd.DataFrame | None  # farmland_pbf only: one row per county


def changed_columns(before: pd.DataFrame, after: pd.DataFrame, diff: RowDiff,
                    columns: Sequence[str]) -> dict[str, int]:
    """How many changed rows differ in each column: what a resend actually corrected."""
    if not len(diff.changed_after):
        return {}
    b = before.iloc[diff.changed_before].reset_index(drop=True)
    a = after.iloc[diff.changed_after].reset_index(drop=True)
    counts = {c: int((row_hashes(b, [c]) != row_hashes(a, [c])).sum()) for c in columns}
    return {c: n for c, n in counts.items() if n}


# -- farmland under protection -------------------------------------------------------------
def pbf_county_balance(before: gpd.GeoDataFrame, after: gpd.GeoDataFrame, diff: RowDiff,
                       key: str, county_column: str) -> pd.DataFrame:
    """Per county: parcels and ellipsoidal area before and after, parcels that left it, and
    whether its permanent basic farmland shrank."""
    area_a = ellipsoidal_area_m2(after.geometry)
    area_b = np.full(len(before), np.nan)
    # An unchanged parcel has the same geometry, so its area is computed once (1M rows).
    area_b[diff.unchanged_before] = area_a[diff.unchanged_after]
    todo = np.setdiff1d(np.arange(len(before)), diff.unchanged_before)
    area_b[todo] = ellipsoidal_area_m2(before.geometry.iloc[todo])
    b = pd.DataFrame({"county_code": _county(before, county_column), "key": before[key].to_numpy(),
                      "area": np.nan_to_num(area_b)})
    a = pd.DataFrame({"county_code": _county(after, county_column), "key": after[key].to_numpy(),
                      "area": np.nan_to_num(area_a)})
    out = pd.concat({
        "parcels_before": b.groupby("county_code").size(),
        "parcels_after": a.groupby("county_code").size(),
        "area_before_m2": b.groupby("county_code")["area"].sum(),
        "area_after_m2": a.groupby("county_code")["area"].sum(),
    }, axis=1).fillna(0)
    # The loss from the rows that differ only: unchanged parcels cancel exactly, so a county
    # nobody touched shows 0, not the rounding of two long sums.
    moved_b = b.drop(index=diff.unchanged_before)
    moved_a = a.drop(index=diff.unchanged_after)
    lost = moved_b.groupby("county_code")["area"].sum().sub(
        moved_a.groupby("county_code")["area"].sum(), fill_value=0)
    out["area_lost_m2"] = lost.reindex(out.index, fill_value=0.0).clip(lower=0)
    # Parcels that left a county: removed outright, or now stated in another county.
    gone = moved_b.merge(moved_a[["county_code", "key"]], how="left", indicator=True)
    gone = gone[gone["_merge"] == "left_only"]
    out["parcels_removed"] = gone.groupby("county_code").size().reindex(out.index, fill_value=0)
    ids = {c: sorted(map(str, keys)) for c, keys in gone.groupby("county_code")["key"]}
    out["removed_ids"] = [json.dumps(ids.get(c, [])[:REMOVED_IDS_CAP], ensure_ascii=False)
                          for c in out.index]
    for what in ("before", "after", "lost"):
        out[f"area_{what}_mu"] = out[f"area_{what}_m2"] / M2_PER_MU
    out["shrunk"] = out["area_lost_m2"] > SHRINK_TOLERANCE_M2
    out = out.astype({"parcels_before": int, "parcels_after": int, "parcels_removed": int})
    return out.rename_axis("county_code").reset_index()


def _county(frame: pd.DataFrame, column: str) -> np.ndarray:
    return np.asarray(frame[column].astype("string").fillna("").str[:6].to_numpy(dtype=object))


# -- reading the versions ------------------------------------------------------------------
def read_versions(wh: Warehouse, contract: Contract,
                  rec: DropRecord) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(before, after): the versions this drop replaced and the rows it stated (those it
    loaded, and of a snapshot those it kept, which are in both)."""
    cols = [c.name for c in attribute_columns(contract)]
    return wh.read_drop_rows(contract, rec.drop_id, cols, Scope.from_note(rec.notes.get("scope")),
                             rec.processed_at)


# -- one drop ------------------------------------------------------------------------------
def drop_changes(wh: Warehouse, contract: Contract, rec: DropRecord) -> DropChanges:
    before, after = read_versions(wh, contract, rec)
    columns = [c.name for c in attribute_columns(contract)] + [GEOMETRY]
    key = contract.key_column
    diff = diff_rows(before, after, columns, key)
    summary: dict[str, Any] = {
        "delivery": contract.delivery, "compared_by": key or "whole rows",
        "rows_before": len(before), "rows_after": len(after), **diff.counts(),
        "changed_columns": changed_columns(before, after, diff, columns),
    }
    if key:
        summary["examples"] = {
            "added": _keys(after, key, diff.added), "removed": _keys(before, key, diff.removed),
            "changed": _keys(after, key, diff.changed_after)}
    counties = None
    if contract.watch_shrinkage and key and contract.county_column:
        counties = pbf_county_balance(before, after, diff, key, contract.county_column)
        summary["pbf_shrunk"] = [
            {"county_code": r.county_code, "county_name": load_region().county_name(r.county_code),
             "area_lost_mu": round(float(r.area_lost_mu), 4),
             "parcels_removed": int(r.parcels_removed)}
            for r in counties[counties["shrunk"]].itertuples()]
    return DropChanges(summary, counties)


def _keys(frame: pd.DataFrame, key: str, positions: np.ndarray) -> list[str]:
    return [str(k) for k in frame[key].to_numpy()[positions[:EXAMPLES_CAP]]]


def record_changes(wh: Warehouse, contract: Contract, rec: DropRecord) -> None:
    """Compute and store what a loaded drop changed. Runs after the load's own transaction:
    a failure here is logged and noted on the drop, and never undoes the load."""
    assert rec.processed_at is not None  # set before every load
    try:
        changes = drop_changes(wh, contract, rec)
        rec.notes["changes"] = changes.summary
        with wh.engine.begin() as conn:
            if changes.counties is not None:
                t = wh.tables.pbf_changes
                conn.execute(delete(t).where(t.c.drop_id == rec.drop_id))  # a rerun replaces
                rows = changes.counties.drop(columns=["area_before_m2", "area_after_m2"])
                conn.execute(insert(t), [{"drop_id": rec.drop_id, **_plain(r)}
                                         for r in rows.to_dict(orient="records")])
            ledger.save_notes(conn, wh, rec)
    except Exception as exc:  # the load stands; the drop says why its changes are missing
        log.exception("drop %s: changes against the earlier state not computed", rec.drop_id)
        rec.notes["changes"] = {"error": f"{type(exc).__name__}: {exc}"}
        with wh.engine.begin() as conn:
            ledger.save_notes(conn, wh, rec)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars as Python values, for the database driver."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}


# -- what people read ----------------------------------------------------------------------
def change_line(notes: dict[str, Any]) -> str | None:
    c = notes.get("changes")
    if not c:
        return None
    if "error" in c:
        return f"changes: not computed ({c['error']})"
    return f"changes: +{c['added']} −{c['removed']} ~{c['changed']}"


def shrink_warnings(notes: dict[str, Any]) -> list[str]:
    return [f"WARNING 永久基本农田面积减少 {s['county_code']} {s.get('county_name') or ''}: "
            f"减少 {s['area_lost_mu']:.2f} 亩, 移除图斑 {s['parcels_removed']} 个"
            for s in (notes.get("changes") or {}).get("pbf_shrunk", [])]
