"""The GX suite on small exact frames: each rule catches its row and only its row."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import MultiPolygon, Point, Polygon

from pipelines.contracts import load_contract
from pipelines.validate.run import validate_frame


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


def _two_work_orders(first_contact: str) -> gpd.GeoDataFrame:
    """Row 2 dispatched 10:00 and contacted at `first_contact`; row 3 closed before dispatch."""
    contract = load_contract("complaints")
    t = pd.Timestamp
    frame = gpd.GeoDataFrame({
        "gdbh": ["G1", "G2"], "slsj": [t("2026-11-02 09:00")] * 2, "gdlx": ["投诉", "投诉"],
        "pdsj": [t("2026-11-02 10:00"), t("2026-11-05 10:00")],
        "sclxsj": [t(first_contact), pd.NaT],
        "bjsj": [t("2026-11-03 10:00"), t("2026-11-04 10:00")],
        "_source_row": [2, 3],
    }, geometry=[None, None], crs=4490)
    for f in contract.fields:
        col = f"{f.column}_token" if f.pii else f.column
        if col not in frame:
            frame[col] = None
    return frame


def test_dates_out_of_order_fail() -> None:
    contract = load_contract("complaints")
    outcome = validate_frame(contract, _two_work_orders("2026-11-02 11:00"))
    assert outcome.fail_rows == {3}
    assert _rules(outcome, 3) == {"dates_in_order"}


def test_dates_failure_names_the_pair_that_runs_backwards() -> None:
    contract = load_contract("complaints")
    frame = _two_work_orders("2026-11-02 09:30")
    failures = validate_frame(contract, frame).failures.set_index("source_row")
    assert failures.loc[2, "field"] == "PDSJ≤SCLXSJ"  # contacted before dispatch
    assert failures.loc[3, "field"] == "PDSJ≤BJSJ"  # closed before dispatch, contact empty
    assert "PDSJ（派单时间） 晚于 BJSJ（办结时间）" in failures.loc[3, "message"]
    assert failures.loc[3, "value"] == "PDSJ=2026-11-05 10:00:00, BJSJ=2026-11-04 10:00:00"


def test_a_polygon_where_the_contract_says_point_is_invalid() -> None:
    outcome = validate_frame(load_contract("licenses"), _licenses(
        tyshxydm=["91110000600037341L"] * 3,
        geometry=[Point(110.3, 20.0), _square(110.3, 19.9), Point(110.4, 19.8)]))
    assert outcome.fail_rows == {4}
    assert _rules(outcome, 4) == {"geometry_valid"}


def _pbf(ids: list[str | None]) -> tuple[gpd.GeoDataFrame, dict[str, pd.Series]]:
    """farmland_pbf rows as conform leaves them: ID numbers tokenised and masked; the clear
    numbers handed over separately, as conform's `clear_ids`."""
    from pipelines.pii import mask_id_number

    contract = load_contract("farmland_pbf")
    squares = [_square(110.3 + 0.01 * i, 19.95) for i in range(len(ids))]
    frame = gpd.GeoDataFrame({
        "xzqdm": ["460105"] * len(ids), "yjjbnttbbh": [f"K{i}" for i in range(len(ids))],
        "dlbm": ["0101"] * len(ids), "_source_row": list(range(2, 2 + len(ids))),
        "zrrzjhm_token": ["0" * 64 if v else None for v in ids],
        "zrrzjhm_masked": [mask_id_number(v) if v else None for v in ids],
    }, geometry=squares, crs=4490)
    from pipelines.geodesy import ellipsoidal_area_m2

    frame["yjjbnttbmj"] = ellipsoidal_area_m2(frame.geometry)
    for f in contract.fields:
        col = f"{f.column}_token" if f.pii else f.column
        if col not in frame:
            frame[col] = None
    return frame, {"zrrzjhm": pd.Series(ids, dtype=object)}


BAD_ID = "110105194912310021"  # check digit should be X


def test_id_check_runs_on_the_clear_number_and_never_echoes_it(
        caplog: pytest.LogCaptureFixture) -> None:
    import json
    import logging

    caplog.set_level(logging.DEBUG)
    frame, clear = _pbf(["11010519491231002X", BAD_ID, None])
    outcome = validate_frame(load_contract("farmland_pbf"), frame, clear_ids=clear)
    assert _rules(outcome, 3) == {"id_card_check"}
    assert outcome.warn_rows == {3} and outcome.fail_rows == set()
    row = outcome.failures[outcome.failures["rule"] == "id_card_check"].iloc[0]
    assert row["value"] == "110105********0021"  # the masked form
    stored = json.dumps(outcome.result, ensure_ascii=False, default=str)
    for text in (stored, outcome.failures.to_csv(), caplog.text):
        assert BAD_ID not in text and "11010519491231002X" not in text
    assert "zrrzjhm_clear" not in frame.columns  # the caller's frame is left as it was


def test_checks_that_cannot_run_are_skipped_never_passed() -> None:
    frame, _ = _pbf([BAD_ID])
    outcome = validate_frame(load_contract("farmland_pbf"), frame)  # no clear IDs, no counties
    skipped = {s["rule"]: s["reason"] for s in outcome.skipped}
    assert set(skipped) == {"id_card_check", "county_location"}
    assert "admin_divisions" in skipped["county_location"]
    assert not {"id_card_check", "county_location"} & {s["rule"] for s in outcome.stats}
    assert outcome.result["meta"]["yitu_skipped_checks"] == outcome.skipped


def test_county_location_is_checked_against_the_given_counties() -> None:
    from shapely.geometry import box

    counties = gpd.GeoDataFrame({"county_code": ["460105", "460106"]},
                                geometry=[box(110.0, 19.5, 110.35, 20.2),
                                          box(110.35, 19.5, 110.7, 20.2)], crs=4490)
    outcome = validate_frame(load_contract("licenses"), _licenses(
        tyshxydm=["91110000600037341L"] * 3, xzqdm=["460105", "460105", "460106"],
        geometry=[Point(110.3, 20.0), Point(110.5, 19.9), Point(110.4, 19.8)]),
        counties=counties)
    assert outcome.warn_rows == {4}  # named 460105, lies in 460106
    assert _rules(outcome, 4) == {"county_location"}
    assert outcome.skipped == []
    location = next(r for r in outcome.result["results"]
                    if r["expectation_config"]["meta"]["rule"] == "county_location")
    # the stored result names where the polygons came from instead of copying them
    assert location["expectation_config"]["kwargs"]["county_polygons"] == {
        "$PARAMETER": "county_polygons"}


def test_every_rule_of_every_suite_has_a_severity_and_a_message() -> None:
    from pipelines.contracts import DATASETS
    from pipelines.validate.run import load_suite_json
    from pipelines.validate.suite import RULE_MESSAGE_ZH, RULE_SEVERITY

    for dataset in DATASETS:
        for e in load_suite_json(dataset)["expectations"]:
            rule = e["meta"]["rule"]
            assert e["meta"]["severity"] == RULE_SEVERITY[rule] in ("fail", "warn")
            assert rule in RULE_MESSAGE_ZH
    assert set(RULE_SEVERITY) == set(RULE_MESSAGE_ZH)


def test_no_frame_holding_clear_id_numbers_outlives_the_validation() -> None:
    import gc

    frame, clear = _pbf(["11010519491231002X", BAD_ID])
    validate_frame(load_contract("farmland_pbf"), frame, clear_ids=clear)
    del clear
    gc.collect()
    # type(), not isinstance(): isinstance asks each object for __class__, and lazy proxies
    # among gc's objects (Airflow's) import modules when asked
    assert not [o for o in gc.get_objects()
                if issubclass(type(o), pd.DataFrame) and "zrrzjhm_clear" in o.columns]
