"""The quarterly assessment of each county (`county_assessment`): what the province's 督查考核
and business-environment assessment look at, from data yitu already holds.

Per county and quarter: 万家投诉比 (work orders per 10,000 licensed business entities), 诉求解决率
(办结且解决 / due), 满意率 against the region's 95% target, the three "2115" clocks, permanent
farmland at the quarter's end and its change, and the quality of the deliveries concerning
the county. A pure function of frames: the warehouse side is `assessment_sources`.

When a work order counts: in the quarter it was received (受理时间 SLSJ) for the complaint
count, the clocks and satisfaction; in the quarter its 15-working-day deadline falls in, once
that deadline has passed at `as_of`, for the resolution rate (an order whose deadline is still
ahead is not yet due, as in the 2115 clocks).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines.contracts import Targets, load_layer
from pipelines.integrate.inputs import COUNTY
from pipelines.integrate.summary import EVALUATED, SATISFIED
from pipelines.integrate.workdays import (
    SLA_COLUMNS,
    ResponseRule,
    WorkCalendar,
    evaluate_response_frame,
    solved_deadlines,
)

LAYER = "county_assessment"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
RESOLVED = "解决"  # BLJG: 解决/部分解决/未解决/退单; only a full solution counts as resolved
_RATES = dict(zip(SLA_COLUMNS, ("sla_contact_rate", "sla_proposal_rate", "sla_solved_rate"),
                  strict=True))


def local(moments: pd.Series) -> pd.Series:
    """UTC moments (the ledger's) as the region's naive wall-clock times: quarters are the
    region's, not UTC's."""
    return pd.to_datetime(moments, utc=True).dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)


def quarter_of(moments: pd.Series) -> pd.Series:
    """"2026Q3" per moment (local wall-clock time), missing where there is none. Each
    quarter's label is made once and taken by position: made as text per moment, a
    province's million work orders took 0.25 s a call."""
    ts = pd.to_datetime(moments)
    if ts.dt.tz is not None:  # its own wall-clock time, as `.dt.year` reads it
        ts = ts.dt.tz_localize(None)
    months = ts.to_numpy(dtype="datetime64[M]")
    valid = ~np.isnat(months)
    index = months[valid].astype(np.int64) // 3  # quarters since 1970Q1
    first = int(index.min()) if len(index) else 0
    seen = np.zeros(int(index.max()) - first + 1 if len(index) else 0, dtype=bool)
    seen[index - first] = True  # (a few thousand quarters at most: pandas' time range)
    found = np.flatnonzero(seen) + first
    labels = pd.array([f"{1970 + q // 4}Q{q % 4 + 1}" for q in found.tolist()] + [None],
                      dtype="str")
    picked = np.full(len(ts), len(found), dtype=np.intp)  # (the missing after the labels)
    picked[valid] = (np.cumsum(seen) - 1)[index - first]
    return pd.Series(labels.take(picked), index=ts.index)


def quarter_bounds(quarter: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, next quarter's start) of "2026Q3"."""
    period = pd.Period(quarter, freq="Q")
    return period.start_time, (period + 1).start_time


def previous_quarter(quarter: str) -> str:
    return str(pd.Period(quarter, freq="Q") - 1)


def _round(values: pd.Series, digits: int = 4) -> pd.Series:
    return values.astype("float64").round(digits)


def _by_county_quarter(frame: pd.DataFrame, quarter: pd.Series) -> pd.core.groupby.DataFrameGroupBy:
    return frame.assign(_q=quarter.to_numpy()).dropna(subset=[COUNTY, "_q"]).groupby([COUNTY, "_q"])


def _work_orders(complaints: pd.DataFrame, as_of: datetime, rule: ResponseRule,
                 cal: WorkCalendar) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per county and quarter received: complaints, clocks, satisfaction; per county and
    quarter due: due, resolved)."""
    sla = evaluate_response_frame(complaints[["pdsj", "sclxsj", "blyjsj", "bjsj"]], as_of, rule,
                                  cal)
    evaluated = complaints["myd"].where(complaints["myd"].isin(EVALUATED))
    received = pd.DataFrame({
        COUNTY: complaints[COUNTY],
        **{_RATES[c]: sla[c].astype("Float64") for c in SLA_COLUMNS},
        "satisfaction_rate": evaluated.isin(SATISFIED).astype("Float64").where(evaluated.notna()),
    })
    grouped = _by_county_quarter(received, quarter_of(complaints["slsj"]))
    per_received = grouped.mean()
    per_received.insert(0, "complaints", grouped.size())
    deadline = solved_deadlines(complaints["pdsj"], rule, cal)
    passed = deadline <= pd.Timestamp(as_of)
    closed = pd.to_datetime(complaints["bjsj"]) <= pd.Timestamp(as_of)
    due = pd.DataFrame({COUNTY: complaints[COUNTY][passed],
                        "resolved": (closed & (complaints["bljg"] == RESOLVED))[passed]})
    grouped_due = _by_county_quarter(due, quarter_of(deadline[passed]))
    per_due = pd.DataFrame({"due": grouped_due.size(), "resolved": grouped_due["resolved"].sum()})
    return per_received, per_due


def business_entities(licenses: pd.DataFrame, quarters: list[str]) -> pd.DataFrame:
    """Per county and quarter: distinct credit codes holding a licence in force on the
    quarter's last day (issued by then, not expired before it)."""
    lic = licenses[[COUNTY, "tyshxydm", "yxqq", "yxqz"]].dropna(subset=["tyshxydm", COUNTY])
    start = pd.to_datetime(lic["yxqq"]).to_numpy(dtype="datetime64[ns]")
    end = pd.to_datetime(lic["yxqz"]).to_numpy(dtype="datetime64[ns]")
    # each (county, credit code) numbered once; per quarter, the numbers in force counted
    pair = lic.groupby([COUNTY, "tyshxydm"], sort=False).ngroup().to_numpy()
    county_of, codes = pd.factorize(lic[COUNTY], sort=True)
    pair_county = np.zeros(pair.max() + 1 if len(pair) else 0, dtype=np.intp)
    pair_county[pair] = county_of
    counts = []
    for q in quarters:
        last_day = np.datetime64(quarter_bounds(q)[1] - pd.Timedelta(days=1), "ns")
        in_force = (np.isnat(start) | (start <= last_day)) & (np.isnat(end) | (end >= last_day))
        held_pair = np.zeros(len(pair_county), dtype=bool)  # (no hashing: pairs are 0..n-1)
        held_pair[pair[in_force]] = True
        per = np.bincount(pair_county[held_pair], minlength=len(codes))
        held = np.flatnonzero(per)
        counts.append(pd.DataFrame({COUNTY: np.asarray(codes)[held], "_q": q,
                                    "business_entities": per[held]}))
    if not counts:
        return pd.DataFrame(columns=[COUNTY, "_q", "business_entities"]).set_index([COUNTY, "_q"])
    return pd.concat(counts, ignore_index=True).set_index([COUNTY, "_q"])


def area_at(pbf_areas: pd.DataFrame, quarters: list[str], codes: list[str]) -> pd.Series:
    """Permanent farmland per county at each quarter's end: the area its latest delivery
    before then left (`pbf_areas`: at, county_code, area_mu per delivery and county)."""
    index = pd.MultiIndex.from_product([codes, quarters], names=[COUNTY, "_q"])
    out = pd.Series(np.nan, index=index, dtype="float64")
    ordered = pbf_areas.sort_values("at", kind="stable")
    for q in quarters:
        before = ordered[pd.to_datetime(ordered["at"]) < quarter_bounds(q)[1]]
        latest = before.groupby("county_code")["area_mu"].last()
        for code, area in latest.items():
            if (code, q) in out.index:
                out[(code, q)] = area
    return out


def county_assessment(counties: gpd.GeoDataFrame, complaints: pd.DataFrame,
                      licenses: pd.DataFrame, delivery_rows: pd.DataFrame,
                      pbf_areas: pd.DataFrame, as_of: datetime, targets: Targets,
                      rule: ResponseRule, cal: WorkCalendar) -> gpd.GeoDataFrame:
    """One row per county and quarter with data (work orders received or due, deliveries).

    `complaints` and `licenses`: core rows with their county (`county_code`); `delivery_rows`:
    received_at (local), county_code, rows, rejected per delivery and county; `pbf_areas`: at
    (local), county_code, area_mu per farmland delivery and county."""
    per_received, per_due = _work_orders(complaints, as_of, rule, cal)
    delivered = delivery_rows.assign(_q=quarter_of(delivery_rows["received_at"]))
    quality = (delivered.rename(columns={"county_code": COUNTY}).dropna(subset=[COUNTY])
               .groupby([COUNTY, "_q"])[["rows", "rejected"]].sum())
    quarters = sorted({*per_received.index.get_level_values("_q"),
                       *per_due.index.get_level_values("_q"),
                       *quality.index.get_level_values("_q")})
    codes = list(counties[COUNTY])
    grid = pd.MultiIndex.from_product([codes, quarters], names=[COUNTY, "_q"])
    frame = pd.DataFrame(index=grid).join([per_received, per_due,
                                           business_entities(licenses, quarters)])
    for count in ("complaints", "due", "resolved", "business_entities"):
        frame[count] = frame[count].fillna(0).astype("int64")
    entities = frame["business_entities"].where(frame["business_entities"] > 0)
    frame["complaints_per_10k"] = _round(frame["complaints"] / entities * 10_000)
    frame["resolution_rate"] = _round(frame["resolved"] / frame["due"].where(frame["due"] > 0))
    area = area_at(pbf_areas, sorted({*quarters, *map(previous_quarter, quarters)}), codes)
    frame["pbf_area_mu"] = _round(area.reindex(grid))
    before = area.reindex(pd.MultiIndex.from_arrays(
        [grid.get_level_values(0), [previous_quarter(q) for q in grid.get_level_values(1)]]))
    frame["pbf_area_change_mu"] = _round(frame["pbf_area_mu"] - before.to_numpy())
    quality = quality.reindex(grid)
    frame["rows_delivered"] = quality["rows"].fillna(0).astype("int64")
    frame["rows_rejected"] = quality["rejected"].fillna(0).astype("int64")
    share = 1 - frame["rows_rejected"] / frame["rows_delivered"].where(frame["rows_delivered"] > 0)
    frame["quality_score"] = _round(100 * share, 2)
    frame = _judged(frame.reset_index(), targets)
    names = counties.set_index(COUNTY)["county_name"]
    frame.insert(0, "county_name", frame[COUNTY].map(names))
    frame.insert(0, "assessment_id", frame[COUNTY] + ":" + frame["_q"])
    frame = frame.rename(columns={"_q": "quarter"})
    outlines = counties.set_index(COUNTY).geometry.reindex(frame[COUNTY])
    columns = load_layer(LAYER).column_names
    out = gpd.GeoDataFrame(frame[columns], geometry=outlines.to_numpy(), crs=4490)
    return out.rename_geometry("geom")


def _judged(frame: pd.DataFrame, targets: Targets) -> pd.DataFrame:
    """Each rate beside its target and whether it was met (unknown where the rate is)."""
    def met(rate: pd.Series, ok: pd.Series) -> pd.Series:
        return pd.Series(pd.array(ok.to_numpy(), dtype="boolean"), index=rate.index).where(
            rate.notna(), pd.NA)

    frame["complaints_per_10k_target"] = targets.complaints_per_10k
    frame["complaints_per_10k_met"] = met(frame["complaints_per_10k"],
                                          frame["complaints_per_10k"] <= targets.complaints_per_10k)
    frame["resolution_target"] = targets.resolution_rate
    frame["resolution_met"] = met(frame["resolution_rate"],
                                  frame["resolution_rate"] >= targets.resolution_rate)
    frame["satisfaction_rate"] = _round(frame["satisfaction_rate"])
    for rate in _RATES.values():
        frame[rate] = _round(frame[rate])
    frame["satisfaction_target"] = targets.satisfaction_rate
    frame["satisfaction_met"] = met(frame["satisfaction_rate"],
                                    frame["satisfaction_rate"] >= targets.satisfaction_rate)
    return frame
