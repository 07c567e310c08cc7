"""The cross-county views against the plain pandas they replaced: a groupby per column for the
enterprise profile, a pass per county for the region summary. The frames hold what the
province's do not always: codes without a licence, a code's first licence without a name or
a point, a county without work orders, rates with nothing known, no evaluated satisfaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipelines.integrate.inputs import COUNTY
from pipelines.integrate.summary import (
    EVALUATED,
    PROFILE_COLUMNS,
    SATISFIED,
    enterprise_profile,
    region_summary,
)

AS_OF = datetime(2026, 11, 16, 12)
A, B, C = "469001", "469002", "469003"


def reference_profile(licenses: gpd.GeoDataFrame, complaints: pd.DataFrame,
                      on_farmland: pd.DataFrame, as_of: datetime) -> gpd.GeoDataFrame:
    lic = licenses.dropna(subset=["tyshxydm"])
    expired = pd.to_datetime(lic["yxqz"]) < pd.Timestamp(as_of.date())
    grouped = lic.assign(_expired=expired).groupby("tyshxydm", sort=True)
    prof = pd.DataFrame({"name": grouped["ztmc"].first(), COUNTY: grouped[COUNTY].first(),
                         "licenses": grouped.size(),
                         "licenses_expired": grouped["_expired"].sum().astype(int)})
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


def reference_summary(counties: gpd.GeoDataFrame, base_map: pd.DataFrame,
                      licenses: pd.DataFrame, on_farmland: pd.DataFrame,
                      complaints: pd.DataFrame) -> gpd.GeoDataFrame:
    rows = []
    for c in counties.itertuples():
        code = c.county_code
        area = base_map[base_map[COUNTY] == code].groupby("class")["area_mu"].sum()
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


def _licenses(rng: np.random.Generator, n: int) -> gpd.GeoDataFrame:
    codes = rng.choice([f"9146{i:014d}" for i in range(n // 3)], n)
    names = pd.array(rng.choice(["甲公司", "乙公司", "丙合作社"], n), dtype="str")
    names[rng.random(n) < 0.2] = pd.NA  # first licences without a name among them
    frame = gpd.GeoDataFrame({
        "tyshxydm": pd.array(np.where(rng.random(n) < 0.05, None, codes), dtype="str"),
        "ztmc": names,
        COUNTY: pd.array(rng.choice([A, B, None], n, p=[0.5, 0.4, 0.1]), dtype="str"),
        "yxqz": [None if r < 0.1 else date(2026, 1, 1) + timedelta(days=int(d))
                 for r, d in zip(rng.random(n), rng.integers(0, 700, n), strict=True)],
    }, geometry=[None if r < 0.2 else Point(110 + r / 10, 19.5)
                 for r in rng.random(n)], crs=4490)
    return frame.rename_geometry("geom")


def _orders(rng: np.random.Generator, n: int, licensed: pd.Series) -> pd.DataFrame:
    uscc = rng.choice(licensed.dropna().unique(), n)
    uscc[rng.random(n) < 0.2] = "91460000UNLICENSED"  # matched to a code holding no licence
    flags = rng.choice(np.array([True, False, None], dtype=object), (n, 3))
    return pd.DataFrame({
        "uscc": pd.array(np.where(rng.random(n) < 0.3, None, uscc), dtype="str"),
        "received_at": pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(0, 200, n), "D"),
        COUNTY: pd.array(rng.choice([A, B], n), dtype="str"),  # none in county C
        "satisfaction": pd.array(rng.choice(["满意", "基本满意", "不满意", "未评价", None], n),
                                 dtype="str"),
        "contact_within_2h": flags[:, 0], "proposal_within_1wd": flags[:, 1],
        "solved_within_15wd": flags[:, 2],
    })


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_enterprise_profile_is_the_groupby(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lic = _licenses(rng, 600)
    orders = _orders(rng, 900, lic["tyshxydm"])
    on = pd.DataFrame({"uscc": lic["tyshxydm"].dropna().unique()[::7], COUNTY: A})
    got = enterprise_profile(lic, orders, on, AS_OF)
    want = reference_profile(lic, orders, on, AS_OF)
    assert list(got.columns) == [*PROFILE_COLUMNS, "geom"]
    assert got["name"].isna().any() or want["name"].isna().sum() == 0
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(want))
    assert got.crs == want.crs and got.geometry.name == "geom"


def test_enterprise_profile_of_no_orders_and_no_licences() -> None:
    rng = np.random.default_rng(4)
    lic = _licenses(rng, 50)
    none = _orders(rng, 10, lic["tyshxydm"]).iloc[:0]
    on = pd.DataFrame({"uscc": pd.array([], dtype="str")})
    pd.testing.assert_frame_equal(pd.DataFrame(enterprise_profile(lic, none, on, AS_OF)),
                                  pd.DataFrame(reference_profile(lic, none, on, AS_OF)))
    empty = enterprise_profile(lic.iloc[:0], none, on, AS_OF)
    assert empty.empty and list(empty.columns) == [*PROFILE_COLUMNS, "geom"]


@pytest.mark.parametrize("seed", [1, 2])
def test_region_summary_is_the_county_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    counties = gpd.GeoDataFrame(
        {COUNTY: pd.array([B, A, C], dtype="str"),
         "county_name": pd.array(["乙县", "甲县", "丙县"], dtype="str")},
        geometry=[box(i, 0, i + 1, 1) for i in range(3)], crs=4490).rename_geometry("geom")
    base = pd.DataFrame({
        COUNTY: pd.array(rng.choice([A, B, C, None], 500), dtype="str"),
        "class": pd.array(rng.choice(["pbf_and_hsf", "pbf_only", "hsf_only"], 500), dtype="str"),
        "area_mu": rng.random(500) * 37.3})
    base = base[~((base[COUNTY] == C) & (base["class"] == "hsf_only"))]  # a class missing
    lic = _licenses(rng, 400)
    orders = _orders(rng, 700, lic["tyshxydm"])
    orders.loc[orders[COUNTY] == B, "satisfaction"] = "未评价"  # none evaluated in B
    orders.loc[orders[COUNTY] == B, "solved_within_15wd"] = None  # nothing known in B
    on = pd.DataFrame({"uscc": ["x", "y", "z"], COUNTY: pd.array([A, A, B], dtype="str")})
    got = region_summary(counties, base, lic, on, orders)
    want = reference_summary(counties, base, lic, on, orders)
    assert got.loc[2, "complaints"] == 0 and pd.isna(got.loc[0, "satisfaction_rate"])
    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(want))
