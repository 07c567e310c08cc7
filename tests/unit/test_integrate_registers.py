"""Licences and work orders on the map, enterprise profiles and county rates, by hand.

Parcel P1 is the 0.01-degree square 110.00-110.01E, 19.50-19.51N in county A (110.0-110.1E);
county B is 110.1-110.2E. Working days around the 2026 National Day holiday (see
test_workdays.py): Wed 30 Sep | 1-7 Oct off | Thu 8, Fri 9, Sat 10 (make-up) | Mon 12 ...
"""

from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipelines.integrate.inputs import COUNTY, locate
from pipelines.integrate.registers import complaints_enriched, licenses_on_farmland, match_uscc
from pipelines.integrate.summary import enterprise_profile, region_summary
from pipelines.read.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

A, B = "469001", "469002"
COUNTIES = gpd.GeoDataFrame({COUNTY: [A, B], "county_name": ["甲县", "乙县"]},
                            geometry=[box(110.0, 19.4, 110.1, 19.6), box(110.1, 19.4, 110.2, 19.6)],
                            crs=4490).rename_geometry("geom")
PBF = gpd.GeoDataFrame({"yjjbnttbbh": ["P1"], COUNTY: [A]},
                       geometry=[box(110.0, 19.5, 110.01, 19.51)], crs=4490).rename_geometry("geom")
EDGE_LON = 110.01  # P1's east edge
T = datetime


def from_gcj02(true_lon: float, lat: float) -> Point:
    """The point a hotline geocoder reports (GCJ-02) as the reader converts it back."""
    raw_lon, raw_lat = wgs84_to_gcj02(np.array([true_lon]), np.array([lat]))
    lon, lat2 = gcj02_to_wgs84(raw_lon, raw_lat)
    assert not box(110.0, 19.5, 110.01, 19.51).contains(Point(raw_lon[0], raw_lat[0]))
    return Point(lon[0], lat2[0])


def licences(points: list[Point | None], codes: list[str] | None = None,
             names: list[str] | None = None, until: list[str] | None = None) -> gpd.GeoDataFrame:
    n = len(points)
    gdf = gpd.GeoDataFrame({
        "tyshxydm": codes or [f"91460000MA5T00000{i}" for i in range(n)],
        "ztmc": names or [f"企业{i}" for i in range(n)], "zzlx": ["食品经营"] * n,
        "zzbh": [f"JY{i}" for i in range(n)], "yxqz": until or ["2030-01-01"] * n,
        "xzqdm": [A] * n}, geometry=points, crs=4490).rename_geometry("geom")
    gdf[COUNTY] = locate(gdf, COUNTIES, stated="xzqdm")
    return gdf


POINTS = {
    "inside": (Point(110.005, 19.505), True),
    "on_edge": (Point(EDGE_LON, 19.505), True),
    "outside": (Point(110.0105, 19.505), False),
    "gcj02_just_inside": (from_gcj02(EDGE_LON - 2e-7, 19.505), True),  # 2 cm inside
    "gcj02_just_outside": (from_gcj02(EDGE_LON + 2e-7, 19.505), False),
}


@pytest.mark.parametrize("case", POINTS)
def test_licence_on_parcel(case: str) -> None:
    point, on = POINTS[case]
    out = licenses_on_farmland(licences([point]), PBF)
    assert len(out) == int(on)
    if on:
        assert out[["pbf_id", COUNTY, "license_no"]].values.tolist() == [["P1", A, "JY0"]]
        assert out.geometry.name == "geom" and out.crs.to_epsg() == 4490


def test_county_from_location_else_stated() -> None:
    rows = gpd.GeoDataFrame({"xzqdm": [B, B, "999999", A]},
                            geometry=[Point(110.05, 19.5), None, None, Point(111.5, 19.5)],
                            crs=4490)
    got = locate(rows, COUNTIES, stated="xzqdm").tolist()
    assert got[:2] == [A, B] and pd.isna(got[2]) and got[3] == A


KNOWN = licences([Point(110.005, 19.505)] * 4,
                 codes=["91460000MA5T000001", "91460000MA5T000002", "91460000MA5T000003",
                        "91460000MA5T000003"],
                 names=["海南椰风食品有限公司（琼海）", "重名农资店", "重名农资店", "两证公司"])
UNIQUE_NAME = {
    "by_code": ("91460000MA5T000002", "随便写的名称", "91460000MA5T000002"),
    "code_unknown_name_exact": ("91460000XXXXXXXXXX", "海南椰风食品有限公司（琼海）",
                                "91460000MA5T000001"),
    "name_after_folding": (None, "海南椰风食品 有限公司(琼海)", "91460000MA5T000001"),
    "ambiguous_name": (None, "重名农资店", None),
    "one_business_two_licences": (None, "两证公司", "91460000MA5T000003"),
    "similar_is_not_equal": (None, "海南椰风食品公司", None),
}


@pytest.mark.parametrize("case", UNIQUE_NAME)
def test_business_named_in_work_order(case: str) -> None:
    code, name, expected = UNIQUE_NAME[case]
    got = match_uscc(pd.DataFrame({"sjqyxydm": [code], "sjqymc": [name]}), KNOWN).iloc[0]
    assert (None if pd.isna(got) else got) == expected


def test_many_orders_matched_at_once() -> None:
    # one frame, as a partition matches it: repeated names are folded once, and full-width
    # letters, ASCII brackets, spaces of any width, missing and non-text values all handled
    register = licences([Point(110.005, 19.505)] * 5,
                        codes=["C1", "C2", "C3", "C3", None],
                        names=["ＡＢＣ食品（海口）有限公司", "重名店", "重名店", "两证公司", "无码公司"])
    cases = [("C2", "重名店", "C2"), ("C9", "ABC食品(海口)有限公司", "C1"),
             (None, " ＡＢＣ食品 （海口）\u3000有限公司 ", "C1"), (None, "重名店", None),
             (None, "两证公司", "C3"), (None, "无码公司", None), (None, None, None),
             (None, "", None), (None, 12, None), ("C3", None, "C3"), (None, "abc食品(海口)有限公司",
                                                                     None)]
    frame = pd.DataFrame({"sjqyxydm": [c[0] for c in cases] * 3,
                          "sjqymc": [c[1] for c in cases] * 3}, index=range(100, 133))
    got = match_uscc(frame, register)
    assert list(got.index) == list(frame.index)
    assert [None if pd.isna(v) else v for v in got] == [c[2] for c in cases] * 3
    texts = frame.astype({"sjqyxydm": "str"}).assign(sjqymc=frame["sjqymc"].map(
        lambda v: v if isinstance(v, str) else None).astype("str"))
    assert got.equals(match_uscc(texts, register))  # Arrow-backed text as read: same answer


def orders(rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
    base = {"gdbh": None, "slsj": T(2026, 9, 30, 15), "gdlx": "投诉", "zbdw": "农业农村局",
            "pdsj": T(2026, 9, 30, 16), "sclxsj": None, "blyjsj": None, "bjsj": None,
            "bljg": None, "myd": None, "sjqymc": None, "sjqyxydm": None,
            "ldrdh_token": "ab" * 32, "ldrdh_masked": "138****0000", "xzqdm": A,
            "geom": Point(110.005, 19.505)}
    frame = pd.DataFrame([{**base, **r} for r in rows])
    for c in ("slsj", "pdsj", "sclxsj", "blyjsj", "bjsj"):
        frame[c] = pd.to_datetime(frame[c])
    gdf = gpd.GeoDataFrame(frame, geometry="geom", crs=4490)
    gdf[COUNTY] = locate(gdf, COUNTIES, stated="xzqdm")
    return gdf


def test_response_times_across_national_day() -> None:
    # dispatched Wed 30 Sep 16:00: proposal due Thu 8 Oct 16:00, solution Tue 27 Oct 16:00
    # (15 working days: 8, 9, 10 (make-up), 12-16, 19-23, 26, 27 Oct); evaluated Fri 9 Oct noon
    out = complaints_enriched(orders([
        {"gdbh": "in_time", "sclxsj": T(2026, 9, 30, 18), "blyjsj": T(2026, 10, 8, 16)},
        {"gdbh": "late", "sclxsj": T(2026, 9, 30, 18, 1), "blyjsj": T(2026, 10, 8, 16, 1),
         "bjsj": T(2026, 10, 27, 16, 1)},
        {"gdbh": "solved_on_deadline", "sclxsj": T(2026, 9, 30, 17),
         "blyjsj": T(2026, 10, 2, 9), "bjsj": T(2026, 10, 27, 16)},
        {"gdbh": "silent", "geom": None, "xzqdm": B},
    ]), KNOWN, PBF, as_of=T(2026, 10, 9, 12))
    got = {r.order_id: (r.contact_within_2h, r.proposal_within_1wd, r.solved_within_15wd)
           for r in out.itertuples()}
    na = pd.NA
    assert got == {"in_time": (True, True, na), "late": (False, False, False),
                   "solved_on_deadline": (True, True, True), "silent": (False, False, na)}
    assert out.set_index("order_id")[COUNTY].to_dict() == {
        "in_time": A, "late": A, "solved_on_deadline": A, "silent": B}
    assert out["on_pbf"].tolist() == [True, True, True, False]
    assert not out.columns.str.contains("ldrdh").any()


AS_OF = T(2026, 10, 9, 12)


def test_enterprise_profile_counts() -> None:
    lic = licences([Point(110.005, 19.505), Point(110.005, 19.505), Point(110.15, 19.5)],
                   codes=["X", "X", "Y"], names=["甲公司", "甲公司", "乙公司"],
                   until=["2026-10-08", "2026-10-09", "2027-01-01"])  # valid through 9 Oct
    complaints = pd.DataFrame({"uscc": ["X", "X", "X", "Y", None], "received_at": [
        AS_OF - timedelta(days=10), AS_OF - timedelta(days=89), AS_OF - timedelta(days=120),
        AS_OF - timedelta(days=91), AS_OF]})
    on = licenses_on_farmland(lic, PBF)
    prof = enterprise_profile(lic, complaints, on, AS_OF).set_index("uscc")
    cols = ["licenses", "licenses_expired", "complaints", "complaints_last_90d", "on_pbf"]
    assert prof[cols].to_dict("index") == {
        "X": dict(zip(cols, [2, 1, 3, 2, True], strict=True)),
        "Y": dict(zip(cols, [1, 0, 1, 0, False], strict=True))}
    assert prof.loc["Y", COUNTY] == B and prof.geometry.name == "geom"


def test_region_rates_ignore_nulls() -> None:
    base = gpd.GeoDataFrame({COUNTY: [A, A, A, B], "class": ["pbf_only", "pbf_and_hsf",
                                                             "hsf_only", "hsf_only"],
                             "area_mu": [10.0, 5.0, 2.5, 1.0]},
                            geometry=[None] * 4, crs=4490)
    cmp = pd.DataFrame({
        COUNTY: [A, A, A, A],
        "contact_within_2h": pd.array([True, False, None, True], dtype="boolean"),
        "proposal_within_1wd": pd.array([None, None, None, None], dtype="boolean"),
        "solved_within_15wd": pd.array([True, None, None, None], dtype="boolean"),
        "satisfaction": ["满意", "不满意", "未评价", "基本满意"]})
    lic = licences([Point(110.005, 19.505), Point(110.15, 19.5)])
    summary = region_summary(COUNTIES, base, lic, licenses_on_farmland(lic, PBF), cmp)
    a, b = (summary.set_index(COUNTY).loc[c] for c in (A, B))
    assert (a["pbf_area_mu"], a["hsf_area_mu"], a["hsf_on_pbf_area_mu"]) == (15.0, 7.5, 5.0)
    assert (a["sla_contact_rate"], a["sla_solved_rate"]) == (pytest.approx(2 / 3, abs=1e-4), 1)
    assert a["satisfaction_rate"] == pytest.approx(2 / 3, abs=1e-4)  # 未评价 is no answer
    assert pd.isna(a["sla_proposal_rate"]) and pd.isna(b["sla_contact_rate"])
    assert pd.isna(b["satisfaction_rate"])
    assert (a["licenses"], a["licenses_on_pbf"], a["complaints"]) == (1, 1, 4)
    assert (b["licenses"], b["licenses_on_pbf"], b["complaints"], b["hsf_area_mu"]) == (
        1, 0, 0, 1.0)
    assert a["county_name"] == "甲县" and summary.geometry.name == "geom"
