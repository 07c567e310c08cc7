"""The GX suite on small exact frames: each rule catches its row and only its row."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from pipelines.contracts import load_contract
from pipelines.validation.run import validate_frame


def _square(x: float, y: float, d: float = 0.002) -> MultiPolygon:
    return MultiPolygon([Polygon([(x, y), (x + d, y), (x + d, y + d), (x, y + d)])])


BOWTIE = MultiPolygon([Polygon([(110, 19), (110.002, 19.002), (110.002, 19), (110, 19.002)])])


def _licenses(**overrides: list) -> gpd.GeoDataFrame:
    base = {
        "tyshxydm": ["91110000600037341L", "91110000600037341N", "91340600MA2PBM9HXD"],
        "ztmc": ["甲公司", "乙公司", "丙公司"], "xzqdm": ["460105", "460106", "460107"],
        "zzlx": ["营业执照"] * 3, "zzbh": ["A1", "A2", "A3"], "djzt": ["存续"] * 3,
        "_source_row": [3, 4, 5],
    }
    base.update(overrides)
    geoms = base.pop("geometry", [Point(110.3, 20.0), Point(110.3, 19.9), Point(110.4, 19.8)])
    frame = pd.DataFrame(base)
    for f in load_contract("licenses").fields:
        if f.column not in frame:
            frame[f.column] = None
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=4490)


def _rules(outcome, row: int) -> set[str]:  # type: ignore[no-untyped-def]
    f = outcome.failures
    return set(f.loc[f["source_row"] == row, "rule"])


def test_clean_rows_pass() -> None:
    outcome = validate_frame(load_contract("licenses"),
                             _licenses(tyshxydm=["91110000600037341L", "91340600MA2PBM9HXD",
                                                 "92340602MA2PBMEM24"]))
    assert outcome.failures.empty and outcome.fail_rows == set()


def test_uscc_check_warns_and_unknown_county_fails() -> None:
    outcome = validate_frame(load_contract("licenses"),
                             _licenses(xzqdm=["460105", "460106", "469099"]))
    assert _rules(outcome, 4) == {"uscc_check"}  # bad check character: flagged, still loads
    assert outcome.warn_rows == {4}
    assert _rules(outcome, 5) == {"domain"}
    assert outcome.fail_rows == {5}
    msg = outcome.failures.loc[outcome.failures["source_row"] == 5, "message"].iloc[0]
    assert "XZQDM（行政区划代码）" in msg and msg.startswith("[domain]")


def test_point_outside_region_fails() -> None:
    outcome = validate_frame(load_contract("licenses"), _licenses(
        tyshxydm=["91110000600037341L"] * 3, zzbh=["A1", "A2", "A3"],
        geometry=[Point(110.3, 20.0), Point(19.9, 110.3), Point(0, 0)]))
    assert outcome.fail_rows == {4, 5}
    assert _rules(outcome, 4) == {"geometry_in_region"}


@pytest.mark.parametrize("geom, rule", [(BOWTIE, "geometry_valid"),
                                        (MultiPolygon(), "geometry_valid")])
def test_invalid_parcel_geometry_is_quarantined_not_repaired(geom: MultiPolygon, rule: str) -> None:
    contract = load_contract("farmland_hsf")
    frame = gpd.GeoDataFrame({
        "xmbh": ["P1", "P2"], "xmmc": ["项目一", "项目二"], "xzqdm": ["460105", "460105"],
        "jszt": ["在建", "已验收"], "_source_row": [1, 2],
    }, geometry=[_square(110.3, 19.95), geom], crs=4490)
    for f in contract.fields:
        if f.column not in frame:
            frame[f.column] = None
    outcome = validate_frame(contract, frame)
    assert outcome.fail_rows == {2}
    assert rule in _rules(outcome, 2)


def test_repeated_parcel_key_quarantines_only_the_repeat() -> None:
    contract = load_contract("farmland_pbf")
    sq = _square(110.3, 19.95)
    frame = gpd.GeoDataFrame({
        "xzqdm": ["460105"] * 3, "yjjbnttbbh": ["K1", "K2", "K1"], "dlbm": ["0101"] * 3,
        "yjjbnttbmj": [1.0, 1.0, 1.0], "_source_row": [1, 2, 3],
    }, geometry=[sq, _square(110.31, 19.95), _square(110.32, 19.95)], crs=4490)
    for f in contract.fields:
        col = f"{f.column}_token" if f.pii else f.column
        if col not in frame:
            frame[col] = None
    outcome = validate_frame(contract, frame)
    assert "key_unique" in _rules(outcome, 3)
    assert "key_unique" not in _rules(outcome, 1)
    # the stated area (1 m2) disagrees with ~45,000 m2 of geometry: a warning on every row
    assert {"area_agrees"} <= _rules(outcome, 1)
    assert outcome.fail_rows == {3}


def test_dates_out_of_order_fail() -> None:
    contract = load_contract("complaints")
    t = pd.Timestamp
    frame = gpd.GeoDataFrame({
        "gdbh": ["G1", "G2"], "slsj": [t("2026-11-02 09:00")] * 2, "gdlx": ["投诉", "投诉"],
        "pdsj": [t("2026-11-02 10:00"), t("2026-11-05 10:00")],
        "sclxsj": [t("2026-11-02 11:00"), pd.NaT],
        "bjsj": [t("2026-11-03 10:00"), t("2026-11-04 10:00")],
        "_source_row": [2, 3],
    }, geometry=[None, None], crs=4490)
    for f in contract.fields:
        col = f"{f.column}_token" if f.pii else f.column
        if col not in frame:
            frame[col] = None
    outcome = validate_frame(contract, frame)
    assert outcome.fail_rows == {3}
    assert _rules(outcome, 3) == {"dates_in_order"}
