"""Views across all counties: one row per enterprise, one row per county."""

from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import pandas as pd

from pipelines.integrate.inputs import COUNTY

SATISFIED = {"满意", "基本满意"}
EVALUATED = SATISFIED | {"不满意"}
PROFILE_COLUMNS = ["uscc", "name", COUNTY, "licenses", "licenses_expired", "complaints",
                   "complaints_last_90d", "on_pbf"]


def enterprise_profile(licenses: gpd.GeoDataFrame, complaints: pd.DataFrame,
                       on_farmland: pd.DataFrame, as_of: datetime) -> gpd.GeoDataFrame:
    lic = licenses.dropna(subset=["tyshxydm"])
    if lic.empty:
        return gpd.GeoDataFrame({c: [] for c in PROFILE_COLUMNS}, geometry=[],
                                crs=4490).rename_geometry("geom")
    expired = pd.to_datetime(lic["yxqz"]) < pd.Timestamp(as_of.date())
    grouped = lic.assign(_expired=expired).groupby("tyshxydm", sort=True)
    prof = pd.DataFrame({
        "name": grouped["ztmc"].first(),
        COUNTY: grouped[COUNTY].first(),
        "licenses": grouped.size(),
        "licenses_expired": grouped["_expired"].sum().astype(int),
    })
    named = complaints.dropna(subset=["uscc"])
    recent = pd.to_datetime(named["received_at"]) >= pd.Timestamp(as_of - timedelta(days=90))
    prof["complaints"] = named.groupby("uscc").size().reindex(prof.index).fillna(0).astype(int)
    prof["complaints_last_90d"] = (named[recent.values].groupby("uscc").size()
                                   .reindex(prof.index).fillna(0).astype(int))
    prof["on_pbf"] = prof.index.isin(set(on_farmland["uscc"]))
    geoms = grouped[lic.geometry.name].first()
    out = gpd.GeoDataFrame(prof.reset_index(names="uscc"), geometry=geoms.values, crs=4490)
    return out.rename_geometry("geom")


def _rate(values: pd.Series) -> float | None:
    known = values.dropna()
    return round(float(known.astype(bool).mean()), 4) if len(known) else None


def region_summary(counties: gpd.GeoDataFrame, base_map: pd.DataFrame, licenses: pd.DataFrame,
                   on_farmland: pd.DataFrame, complaints: pd.DataFrame) -> gpd.GeoDataFrame:
    rows = []
    for c in counties.itertuples():
        code = c.county_code
        pieces = base_map[base_map[COUNTY] == code]
        area = pieces.groupby("class")["area_mu"].sum()
        cmp = complaints[complaints[COUNTY] == code]
        sat = cmp["satisfaction"].where(cmp["satisfaction"].isin(EVALUATED))
        rows.append({
            COUNTY: code, "county_name": c.county_name,
            "pbf_area_mu": round(float(area.get("pbf_and_hsf", 0) + area.get("pbf_only", 0)), 4),
            "hsf_area_mu": round(float(area.get("pbf_and_hsf", 0) + area.get("hsf_only", 0)), 4),
            "hsf_on_pbf_area_mu": round(float(area.get("pbf_and_hsf", 0)), 4),
            "licenses": int((licenses[COUNTY] == code).sum()),
            "licenses_on_pbf": int((on_farmland[COUNTY] == code).sum()),
            "complaints": len(cmp),
            "sla_contact_rate": _rate(cmp["contact_within_2h"]),
            "sla_proposal_rate": _rate(cmp["proposal_within_1wd"]),
            "sla_solved_rate": _rate(cmp["solved_within_15wd"]),
            "satisfaction_rate": _rate(sat.dropna().isin(SATISFIED)) if sat.notna().any() else None,
        })
    out = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=counties.geometry.values, crs=4490)
    return out.rename_geometry("geom")
