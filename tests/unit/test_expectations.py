"""Each custom GX expectation on its own, through a real GX validation run: passing rows pass
and exactly the failing rows are reported unexpected."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPoint, MultiPolygon, Point, Polygon, box

from pipelines.geodesy import GEOD, M2_PER_MU
from pipelines.validate import custom_expectations as ce
from pipelines.validate.run import RESULT_FORMAT, _batch_definition

BOWTIE = Polygon([(110, 19), (110.002, 19.002), (110.002, 19), (110, 19.002)])


def _square(x: float, y: float, d: float = 0.002) -> Polygon:
    return box(x, y, x + d, y + d)


def _unexpected(expectation: Any, frame: pd.DataFrame,
                parameters: dict[str, Any] | None = None) -> list[int]:
    """Validate `frame` (index = row numbers) with one expectation; the unexpected rows."""
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(expectation, result_format=RESULT_FORMAT,
                            expectation_parameters=parameters or {})
    assert not result.exception_info.get("raised_exception"), result.exception_info
    rows = sorted(int(i) for i in result.result.get("unexpected_index_list") or [])
    assert result.success == (not rows)
    return rows


def _frame(**columns: list[Any]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    index = pd.Index(range(1, n + 1))  # row numbers, as validation_frame indexes a delivery
    return pd.DataFrame({k: pd.Series(v, dtype=object, index=index) for k, v in columns.items()})


@pytest.mark.parametrize("geometry_type, good, bad", [
    ("MultiPolygon",
     [_square(110, 19), MultiPolygon([_square(110, 19)]), None],
     [BOWTIE, MultiPolygon(), Point(110, 19), Polygon()]),
    ("Point",
     [Point(110, 19), MultiPoint([(110, 19)]), None],
     [Point(), _square(110, 19), MultiPoint()]),
])
def test_valid_geometry_of_the_contract_type(geometry_type: str, good: list[Any],
                                             bad: list[Any]) -> None:
    frame = _frame(geometry=good + bad)
    exp = ce.ExpectColumnValuesToBeValidGeometry(column="geometry", geometry_type=geometry_type)
    assert _unexpected(exp, frame) == list(range(len(good) + 1, len(good) + len(bad) + 1))


def test_within_extent() -> None:
    frame = _frame(geometry=[Point(110, 19), _square(111.298, 20.0), Point(19, 110),
                             _square(111.3, 20.0), Point(0, 0)])
    exp = ce.ExpectColumnValuesToBeWithinExtent(column="geometry", min_lon=108.3, min_lat=17.9,
                                                max_lon=111.3, max_lat=20.4)
    assert _unexpected(exp, frame) == [3, 4, 5]


def test_uscc_check_character() -> None:
    frame = _frame(code=["91110000600037341L", "91340600MA2PBM9HXD", "92340602MA2PBMEM24", None,
                         "91110000600037341N", "9111000060003734IL", "91110000600037341"])
    assert _unexpected(ce.ExpectColumnValuesToBeValidUscc(column="code"), frame) == [5, 6, 7]


def test_id_card_check_digit() -> None:
    frame = _frame(number=["11010519491231002X", "11010519491231002x", "460105198001011238",
                           None, "110105194912310021", "46010519800101123X",
                           "4601051980010112", "46010519800101123A"])
    exp = ce.ExpectColumnValuesToBeValidIdCardNumber(column="number")
    assert _unexpected(exp, frame) == [5, 6, 7, 8]


def test_first_occurrence_of_a_key() -> None:
    frame = _frame(key=["K1", "K2", "K1", "K3", "K2", "K1"])
    exp = ce.ExpectColumnValuesToBeFirstOccurrence(column="key")
    assert _unexpected(exp, frame) == [3, 5, 6]


COUNTIES = {"460105": box(110.0, 19.0, 110.5, 19.5), "460106": box(110.5, 19.0, 111.0, 19.5)}


def _county_parameter() -> dict[str, Any]:
    return {"county_polygons": {code: shapely.to_wkb(p, hex=True) for code, p in COUNTIES.items()}}


def test_county_code_matches_location() -> None:
    frame = _frame(
        xzqdm=["460105", "460106", "460105", "460106", "460105", "469099", "460105", None],
        geometry=[
            Point(110.2, 19.2),  # in the county it names
            MultiPolygon([_square(110.6, 19.2)]),  # a parcel in its county
            Point(110.7, 19.2),  # names 460105, lies in 460106: unexpected
            MultiPolygon([_square(110.2, 19.2)]),  # names 460106, lies in 460105: unexpected
            Point(112.0, 19.2),  # in no county at all: geometry_in_region's problem, not this
            Point(110.2, 19.2),  # unknown code: the domain rule's problem
            None,  # no location (a work order not geocoded)
            Point(110.2, 19.2),  # no code
        ])
    exp = ce.ExpectColumnPairCountyCodeToMatchLocation(
        column_A="xzqdm", column_B="geometry", county_polygons={"$PARAMETER": "county_polygons"})
    assert _unexpected(exp, frame, _county_parameter()) == [3, 4]


def test_county_location_of_a_parcel_across_a_county_line_uses_a_point_inside_it() -> None:
    # Mostly in 460106: its point on surface is there, so naming 460106 is right.
    across = MultiPolygon([box(110.49, 19.2, 110.7, 19.21)])
    frame = _frame(xzqdm=["460106", "460105"], geometry=[across, across])
    exp = ce.ExpectColumnPairCountyCodeToMatchLocation(
        column_A="xzqdm", column_B="geometry", county_polygons={"$PARAMETER": "county_polygons"})
    assert _unexpected(exp, frame, _county_parameter()) == [2]


def test_dates_in_order_across_missing_values() -> None:
    t = pd.Timestamp
    nat = pd.NaT
    frame = pd.DataFrame({
        "pdsj": [t("2026-11-02 10:00"), t("2026-11-02 10:00"), t("2026-11-02 10:00"), nat,
                 t("2026-11-05 10:00"), t("2026-11-02 10:00"), t("2026-11-02 10:00")],
        "sclxsj": [t("2026-11-02 11:00"), nat, t("2026-11-02 10:00"), nat,
                   nat, t("2026-11-02 09:00"), t("2026-11-02 11:00")],
        "blyjsj": [t("2026-11-03 10:00"), nat, nat, nat,
                   nat, t("2026-11-03 10:00"), t("2026-11-02 10:30")],
        "bjsj": [t("2026-11-04 10:00"), t("2026-11-04 10:00"), nat, nat,
                 t("2026-11-04 10:00"), t("2026-11-04 10:00"), t("2026-11-04 10:00")],
    }, index=pd.Index(range(1, 8)))
    exp = ce.ExpectMulticolumnDatetimesToBeInOrder(column_list=["pdsj", "sclxsj", "blyjsj",
                                                                "bjsj"])
    # 5: dispatched after closure with the steps between empty; 6: contact before dispatch;
    # 7: a proposal before the first contact
    assert _unexpected(exp, frame) == [5, 6, 7]


def _area_m2(geom: Any) -> float:
    return abs(GEOD.geometry_area_perimeter(geom)[0])


@pytest.mark.parametrize("unit", ["m2", "mu"])
def test_stated_area_agrees_with_ellipsoidal_area(unit: str) -> None:
    parcel = MultiPolygon([_square(110.3, 19.9, 0.003)])
    true = _area_m2(parcel) / (M2_PER_MU if unit == "mu" else 1)
    stated = [true, true * 1.049, true * 0.951, None, true * 1.06, true * 0.9, true * 2]
    frame = pd.DataFrame({"area": stated, "geometry": np.array([parcel] * 7, dtype=object)},
                         index=pd.Index(range(1, 8)))
    exp = ce.ExpectColumnPairStatedAreaToAgreeWithGeometry(column_A="area", column_B="geometry",
                                                           unit=unit, tolerance=0.05)
    assert _unexpected(exp, frame) == [5, 6, 7]


def test_stated_area_leaves_unmeasurable_geometry_to_other_rules() -> None:
    frame = pd.DataFrame({"area": [100.0, 100.0],
                          "geometry": np.array([MultiPolygon(), None], dtype=object)},
                         index=pd.Index([1, 2]))
    exp = ce.ExpectColumnPairStatedAreaToAgreeWithGeometry(column_A="area", column_B="geometry",
                                                           unit="m2", tolerance=0.05)
    assert _unexpected(exp, frame) == []
