"""Great Expectations 1.x expectations the core library does not have.

Each is a real GX map expectation (column, column pair or multicolumn) backed by a map
metric, so it runs inside the GX validation, shows in Data Docs and reports unexpected rows by
index like the built-ins. The row logic itself lives in `pipelines.validate.checks`.
Importing this module registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import pandas as pd
import shapely
from great_expectations.core.suite_parameters import SuiteParameterDict
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
    multicolumn_condition_partial,
)

from pipelines.validate import checks


def _series(ok: Any, index: pd.Index) -> pd.Series:
    return pd.Series(ok, index=index, dtype=bool)


# --- geometry ------------------------------------------------------------------------------


class ColumnValuesValidGeometry(ColumnMapMetricProvider):
    condition_metric_name = "column_values.yitu_valid_geometry"
    condition_value_keys = ("geometry_type",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, geometry_type: str, **kwargs: Any) -> pd.Series:
        return _series(checks.geometry_ok(column, geometry_type), column.index)


class ExpectColumnValuesToBeValidGeometry(ColumnMapExpectation):
    """Geometries are OGC-valid, not empty and of the contract's type (Point: Point or
    MultiPoint; MultiPolygon: Polygon or MultiPolygon)."""

    geometry_type: Literal["Point", "MultiPolygon"]
    map_metric: ClassVar[str] = "column_values.yitu_valid_geometry"
    success_keys: ClassVar[tuple[str, ...]] = ("geometry_type", "mostly")


class ColumnValuesWithinExtent(ColumnMapMetricProvider):
    condition_metric_name = "column_values.yitu_within_extent"
    condition_value_keys = ("min_lon", "min_lat", "max_lon", "max_lat")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls, column: pd.Series, min_lon: float, min_lat: float, max_lon: float, max_lat: float,
        **kwargs: Any,
    ) -> pd.Series:
        ok = checks.within_extent(column, min_lon, min_lat, max_lon, max_lat)
        return _series(ok, column.index)


class ExpectColumnValuesToBeWithinExtent(ColumnMapExpectation):
    """Every geometry lies inside the region's lon/lat extent (EPSG:4490)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    map_metric: ClassVar[str] = "column_values.yitu_within_extent"
    success_keys: ClassVar[tuple[str, ...]] = ("min_lon", "min_lat", "max_lon", "max_lat", "mostly")


# --- national codes ------------------------------------------------------------------------


def _column_check(name: str, metric: str, check: Callable[[pd.Series], Any],
                  doc: str) -> type[ColumnMapExpectation]:
    """A map expectation over one column whose rows pass where `check` says so, and the
    metric behind it. GX registers both by their class names when they are created, so the
    expectation is `expect_column_values_to_be_<snake case of name>`."""

    def _pandas(cls: type, column: pd.Series, **kwargs: Any) -> pd.Series:
        return _series(check(column), column.index)

    type(f"ColumnValues{name}", (ColumnMapMetricProvider,), {
        "condition_metric_name": metric,
        "_pandas": column_condition_partial(engine=PandasExecutionEngine)(_pandas)})
    return type(f"ExpectColumnValuesToBe{name}", (ColumnMapExpectation,), {
        "__doc__": doc, "__module__": __name__, "map_metric": metric,
        "success_keys": ("mostly",)})


ExpectColumnValuesToBeValidUscc = _column_check(
    "ValidUscc", "column_values.yitu_valid_uscc", checks.uscc_ok,
    "统一社会信用代码 with a correct GB 32100 check character.")
ExpectColumnValuesToBeValidIdCardNumber = _column_check(
    "ValidIdCardNumber", "column_values.yitu_valid_id_card_number", checks.id_card_ok,
    "居民身份证号 with a correct GB 11643 (ISO 7064 MOD 11-2) check character.\n\n"
    "It needs the clear number: the pipeline validates a transient in-memory column and runs "
    "with a result format that copies no values (see `pipelines.validate.run`).")
# Unlike expect_column_values_to_be_unique, the first copy of a key is kept: only the
# repeats are unexpected, so the parcel itself still loads once.
ExpectColumnValuesToBeFirstOccurrence = _column_check(
    "FirstOccurrence", "column_values.yitu_first_occurrence", checks.first_occurrence,
    "A key appears once in a delivery; its repeats are unexpected.")


# --- across columns ------------------------------------------------------------------------


def polygons_from_wkb(wkb_hex: dict[str, str]) -> dict[str, Any]:
    """The expectation parameter (county code -> WKB hex) as shapely polygons."""
    return {code: shapely.from_wkb(bytes.fromhex(w)) for code, w in wkb_hex.items()}


class ColumnPairCountyCodeMatchesLocation(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.yitu_county_code_matches_location"
    condition_value_keys = ("county_polygons",)
    condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition",
                             "condition_parser", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series,
                county_polygons: dict[str, str], **kwargs: Any) -> pd.Series:
        polygons = polygons_from_wkb(county_polygons)
        return _series(checks.county_location_ok(column_A, column_B, polygons), column_A.index)


class ExpectColumnPairCountyCodeToMatchLocation(ColumnPairMapExpectation):
    """The 行政区划代码 in column_A names the county whose polygon holds the geometry in
    column_B (the point, or a point inside the polygon). The county polygons (code -> WKB hex)
    come from the warehouse's current admin_divisions at run time, as the expectation
    parameter `county_polygons`."""

    county_polygons: dict[str, str] | SuiteParameterDict  # type: ignore[type-arg]
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = (
        "either_value_is_missing")
    map_metric: ClassVar[str] = "column_pair_values.yitu_county_code_matches_location"
    success_keys: ClassVar[tuple[str, ...]] = ("county_polygons", "ignore_row_if", "mostly")


class ColumnPairStatedAreaAgrees(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.yitu_stated_area_agrees"
    condition_value_keys = ("unit", "tolerance")
    condition_domain_keys = ("batch_id", "table", "column_A", "column_B", "row_condition",
                             "condition_parser", "ignore_row_if")

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, unit: str, tolerance: float,
                **kwargs: Any) -> pd.Series:
        return _series(checks.area_agrees(column_A, column_B, unit, tolerance), column_A.index)


class ExpectColumnPairStatedAreaToAgreeWithGeometry(ColumnPairMapExpectation):
    """The area stated in column_A (m2 or mu) is within `tolerance` (a share, 0.05 = 5%) of
    the ellipsoidal area of the geometry in column_B on the CGCS2000 ellipsoid."""

    unit: Literal["m2", "mu"]
    tolerance: float
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] = (
        "either_value_is_missing")
    map_metric: ClassVar[str] = "column_pair_values.yitu_stated_area_agrees"
    success_keys: ClassVar[tuple[str, ...]] = ("unit", "tolerance", "ignore_row_if", "mostly")


class MulticolumnDatetimesInOrder(MulticolumnMapMetricProvider):
    condition_metric_name = "multicolumn_values.yitu_datetimes_in_order"
    condition_domain_keys = ("batch_id", "table", "column_list", "row_condition",
                             "condition_parser", "ignore_row_if")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: Any) -> pd.Series:
        ok = checks.dates_in_order(column_list, list(column_list.columns))
        return _series(ok, column_list.index)


class ExpectMulticolumnDatetimesToBeInOrder(MulticolumnMapExpectation):
    """The timestamps in column_list never run backwards (column_list[0] ≤ [1] ≤ ...); a
    missing timestamp is skipped, so the chain is checked across it."""

    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = (
        "all_values_are_missing")
    map_metric: ClassVar[str] = "multicolumn_values.yitu_datetimes_in_order"
    success_keys: ClassVar[tuple[str, ...]] = ("ignore_row_if", "mostly")
