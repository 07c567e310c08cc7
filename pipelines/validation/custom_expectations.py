"""Great Expectations 1.x expectations the core library does not have.

Each is a real GX ColumnMapExpectation backed by a column-map metric, so it runs inside the
GX validation, shows in Data Docs and reports unexpected rows by index like the built-ins.
Importing this module registers them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import shapely
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from pipelines.codes import uscc_check_ok


class ColumnValuesValidGeometry(ColumnMapMetricProvider):
    condition_metric_name = "column_values.yitu_valid_geometry"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        geoms = np.asarray(column, dtype=object)
        # A parcel boundary is a legal record: invalid or empty is an error, never repaired here.
        ok = shapely.is_valid(geoms) & ~shapely.is_empty(geoms)
        return pd.Series(ok, index=column.index)


class ExpectColumnValuesToBeValidGeometry(ColumnMapExpectation):
    """Geometries are OGC-valid and not empty."""

    map_metric: ClassVar[str] = "column_values.yitu_valid_geometry"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ColumnValuesWithinExtent(ColumnMapMetricProvider):
    condition_metric_name = "column_values.yitu_within_extent"
    condition_value_keys = ("min_lon", "min_lat", "max_lon", "max_lat")

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls, column: pd.Series, min_lon: float, min_lat: float, max_lon: float, max_lat: float,
        **kwargs: Any,
    ) -> pd.Series:
        bounds = shapely.bounds(np.asarray(column, dtype=object))
        with np.errstate(invalid="ignore"):
            ok = (
                (bounds[:, 0] >= min_lon) & (bounds[:, 1] >= min_lat)
                & (bounds[:, 2] <= max_lon) & (bounds[:, 3] <= max_lat)
            )
        return pd.Series(ok, index=column.index)


class ExpectColumnValuesToBeWithinExtent(ColumnMapExpectation):
    """Every geometry lies inside the region's lon/lat extent (EPSG:4490)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    map_metric: ClassVar[str] = "column_values.yitu_within_extent"
    success_keys: ClassVar[tuple[str, ...]] = ("min_lon", "min_lat", "max_lon", "max_lat", "mostly")


class ColumnValuesValidUscc(ColumnMapMetricProvider):
    condition_metric_name = "column_values.yitu_valid_uscc"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        return uscc_check_ok(column).fillna(False).astype(bool)


class ExpectColumnValuesToBeValidUscc(ColumnMapExpectation):
    """统一社会信用代码 with a correct GB 32100 check character."""

    map_metric: ClassVar[str] = "column_values.yitu_valid_uscc"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)


class ColumnValuesFirstOccurrence(ColumnMapMetricProvider):
    condition_metric_name = "column_values.yitu_first_occurrence"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: Any) -> pd.Series:
        # Unlike expect_column_values_to_be_unique, the first copy of a key is kept: only the
        # repeats are unexpected, so the parcel itself still loads once.
        return ~column.duplicated(keep="first")


class ExpectColumnValuesToBeFirstOccurrence(ColumnMapExpectation):
    """A key appears once in a delivery; its repeats are unexpected."""

    map_metric: ClassVar[str] = "column_values.yitu_first_occurrence"
    success_keys: ClassVar[tuple[str, ...]] = ("mostly",)
