"""Run a dataset's GX suite over a conformed frame and turn the result into row outcomes."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.contracts import Contract, load_contract, load_region
from pipelines.validate.checks import dates_out_of_order
from pipelines.validate.suite import (
    COUNTY_POLYGONS_PARAMETER,
    GEOMETRY_COLUMN,
    ROW_ID_COLUMN,
    RULE_MESSAGE_ZH,
    id_clear_column,
    suite_text,
)

log = logging.getLogger(__name__)

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
# Result keys that would copy cell values (possibly personal) into stored results.
_VALUE_KEYS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts",
               "unexpected_index_list", "partial_unexpected_index_list", "unexpected_rows",
               "unexpected_index_query")
FAILURE_COLUMNS = ["source_row", "field", "rule", "severity", "message", "value"]
# COMPLETE gives every unexpected row; exclude_unexpected_values keeps cell values (a clear
# ID number among them) out of the result. The frame's index is the source row number, so
# GX lists failing rows as plain ints instead of building a dict per failing row.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "partial_unexpected_count": 0,
}


@dataclass
class ValidationOutcome:
    failures: pd.DataFrame  # one row per (source row, rule, field) that failed
    stats: list[dict[str, Any]]  # one per expectation run: rule, field, severity, counts
    result: dict[str, Any]  # the GX suite result, values removed, for Data Docs
    fail_rows: set[int] = field(default_factory=set)
    # Expectations that could not run on this delivery, with why: never counted as passed.
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def warn_rows(self) -> set[int]:
        warn = self.failures[self.failures["severity"] == "warn"]
        return set(warn["source_row"].astype(int)) - self.fail_rows


def load_suite_json(dataset: str) -> dict[str, Any]:
    """The dataset's suite, derived from its contract (as committed in `expectations/`)."""
    data: dict[str, Any] = json.loads(suite_text(load_contract(dataset), load_region()))
    return data


def gx_context(mode: str = "ephemeral", project_root_dir: Path | None = None) -> Any:
    """A GX context that stays quiet: no usage analytics sent out, no progress bars."""
    # Government data: nothing about it leaves the machine, not even usage statistics.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # heavy: imported only when validating
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.execution_engine import pandas_execution_engine

    import pipelines.validate.custom_expectations  # noqa: F401  registers our expectations

    # GX fingerprints every pandas batch (an md5 over hash_pandas_object of the whole frame)
    # only to record it among the result's batch markers; a delivery is already identified by
    # its file's sha256 in the ledger, and at 1M rows the fingerprint alone costs more than
    # half of all the checks together. Frames above this many bytes are not fingerprinted.
    pandas_execution_engine.HASH_THRESHOLD = 0
    root = str(project_root_dir) if project_root_dir else None
    context = gx.get_context(mode=mode, project_root_dir=root)  # type: ignore[call-overload]
    # Progress bars would flood the Airflow task logs with one line per metric.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


_MAKING = threading.Lock()  # a warm-up thread and a validation wait for one context


def _batch_definition() -> Any:
    with _MAKING:
        return _made()


@cache
def _made() -> Any:
    context = gx_context()
    source = context.data_sources.add_pandas("yitu")
    return source.add_dataframe_asset("delivery").add_batch_definition_whole_dataframe("all")


def warm_up() -> None:
    """Import Great Expectations and make its context now (seconds of CPU, cached per
    process), in a process about to fork workers that validate: they inherit it instead of
    each paying for it (the Celery workers' preload, `yitu run --jobs`)."""
    _batch_definition()


def _validate(plain: pd.DataFrame, suite: Any, params: dict[str, Any]) -> Any:
    """Batch.validate builds its batch twice (once for the Batch, once more inside its
    Validator), fingerprinting the whole frame each time; the Validator alone builds it once."""
    from great_expectations.validator.v1_validator import Validator

    definition = _batch_definition()
    validator = Validator(definition, result_format=RESULT_FORMAT,
                          batch_parameters={"dataframe": plain})
    try:
        return validator.validate_expectation_suite(suite, expectation_parameters=params)
    finally:
        # The data source's engine keeps the last batch loaded; let go of it now, so that a
        # clear ID number lives no longer than the validation that needed it.
        batches = definition.data_asset.datasource.get_execution_engine().batch_manager
        batches.batch_data_cache.clear()
        batches.reset_batch_cache()


def _suite(name: str, meta: dict[str, Any], expectations: list[dict[str, Any]]) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    import pipelines.validate.custom_expectations  # noqa: F401  registers our expectations

    suite = gx.ExpectationSuite(name=name, meta=meta)
    for e in expectations:
        config = ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e["meta"])
        suite.add_expectation_configuration(config)
    return suite


def validation_frame(contract: Contract, frame: gpd.GeoDataFrame,
                     clear_ids: Mapping[str, pd.Series] | None = None) -> pd.DataFrame:
    """The plain frame GX validates: attributes, geometry objects, and the clear ID numbers
    as transient columns. Indexed by source row number; it lives only for the validation."""
    plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    # Kept as geopandas' GeometryArray, not an object column: GX fingerprints every batch
    # with pandas' hash_pandas_object, which hashes an object column of geometries through
    # str() (WKT) and Python __eq__/__hash__, 25x the cost of all the checks at 1M parcels;
    # a GeometryArray hashes its WKB in C.
    plain[GEOMETRY_COLUMN] = frame.geometry.values
    for col in plain.columns:
        # Nullable Int64/Float64 as plain float64 (NaN for missing, exact for integers below
        # 2**53): GX's between is vectorised only for numpy numbers and otherwise calls a
        # Python function per value.
        if isinstance(plain[col].dtype, pd.api.extensions.ExtensionDtype) and \
                pd.api.types.is_numeric_dtype(plain[col].dtype) and \
                not pd.api.types.is_bool_dtype(plain[col].dtype):
            plain[col] = plain[col].to_numpy(dtype=float, na_value=np.nan)
    for f in contract.fields:
        if f.check == "id_card" and clear_ids is not None and f.column in clear_ids:
            clear = np.asarray(clear_ids[f.column], dtype=object)
            if len(clear) != len(plain):
                raise ValueError(f"{contract.dataset}: {len(clear)} clear {f.code} values for "
                                 f"{len(plain)} rows; they must be given row by row")
            plain[id_clear_column(f)] = clear
    plain.index = pd.Index(frame[ROW_ID_COLUMN].to_numpy(dtype=np.int64))
    return plain


def county_polygons_parameter(counties: gpd.GeoDataFrame) -> dict[str, str]:
    """County code -> WKB hex of its polygon, the value of the `county_polygons` parameter."""
    codes = counties["county_code"].astype(str).to_numpy()
    wkb = shapely.to_wkb(np.asarray(counties.geometry.values, dtype=object), hex=True)
    return dict(zip(codes.tolist(), wkb.tolist(), strict=True))


def _runnable(suite_json: dict[str, Any], plain: pd.DataFrame, has_counties: bool
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    run, skipped = [], []
    for e in suite_json["expectations"]:
        why = None
        if e["kwargs"].get("county_polygons") and not has_counties:
            why = "no admin_divisions loaded in the warehouse yet: location not checked"
        elif str(e["kwargs"].get("column", "")).endswith("_clear") and \
                e["kwargs"]["column"] not in plain.columns:
            why = "clear ID numbers not given to validation: check character not checked"
        if why is None:
            run.append(e)
        else:
            skipped.append({"expectation": e["type"], **e["meta"], "reason": why})
    return run, skipped


def validate_frame(contract: Contract, frame: gpd.GeoDataFrame,
                   suite_json: dict[str, Any] | None = None, *,
                   clear_ids: Mapping[str, pd.Series] | None = None,
                   counties: gpd.GeoDataFrame | None = None) -> ValidationOutcome:
    """Validate one delivery; every failing row is known by its source row number.

    `clear_ids` holds the clear ID numbers (column -> values in frame order) taken before
    tokenising; `counties` (column `county_code`, polygons in EPSG:4490) are the current
    admin divisions. Checks that need what is not given are reported as skipped."""
    suite_json = suite_json or load_suite_json(contract.dataset)
    plain = validation_frame(contract, frame, clear_ids)
    has_counties = counties is not None and not counties.empty
    expectations, skipped = _runnable(suite_json, plain, has_counties)
    params = ({COUNTY_POLYGONS_PARAMETER: county_polygons_parameter(counties)}
              if has_counties and counties is not None else {})
    suite = _suite(suite_json["name"], suite_json.get("meta", {}), expectations)
    # GX gets only the columns its expectations read: it copies its frame for every map
    # metric (dropping the rows where the column is null), and copying free text and
    # string columns nothing checks was half its time on a work-order file.
    result = _validate(plain[_suite_columns(plain, expectations)], suite, params)
    failures: list[pd.DataFrame] = []
    stats: list[dict[str, Any]] = []
    for r in result.results:
        meta = r.expectation_config.meta or {}
        rule, severity, fld = meta.get("rule"), meta.get("severity"), meta.get("field")
        if r.exception_info and r.exception_info.get("raised_exception"):
            # A suite that cannot run is the pipeline's fault, not the department's.
            raise RuntimeError(f"{contract.dataset}: expectation {r.expectation_config.type} "
                               f"raised: {r.exception_info.get('exception_message')}")
        res = r.result or {}
        stats.append({
            "expectation": r.expectation_config.type, "rule": rule, "field": fld,
            "severity": severity, "success": bool(r.success),
            "element_count": int(res.get("element_count", len(plain))),
            "unexpected_count": int(res.get("unexpected_count", 0) or 0),
        })
        rows = [int(i) for i in res.get("unexpected_index_list") or []]
        if rows:
            failures.append(_failure_rows(contract, plain, rows, str(rule), severity, fld))
        for k in _VALUE_KEYS:  # read; now out before the result is serialised at all
            res.pop(k, None)
    table = (pd.concat(failures, ignore_index=True) if failures
             else pd.DataFrame(columns=FAILURE_COLUMNS))
    fail_rows = set(table.loc[table["severity"] == "fail", "source_row"].astype(int))
    for s in skipped:
        log.warning("%s: %s skipped: %s", contract.dataset, s["rule"], s["reason"])
    return ValidationOutcome(table, stats, _scrub(result.to_json_dict(), skipped), fail_rows,
                             skipped)


def _suite_columns(plain: pd.DataFrame, expectations: list[dict[str, Any]]) -> list[str]:
    used: set[str] = set()
    for e in expectations:
        k = e["kwargs"]
        used.update(c for c in (k.get("column"), k.get("column_A"), k.get("column_B")) if c)
        used.update(k.get("column_list") or [])
    return [c for c in plain.columns if c in used]


def _scrub(result_json: dict[str, Any], skipped: list[dict[str, Any]]) -> dict[str, Any]:
    """The result as stored and shown in Data Docs: counts, never cell values."""
    for r in result_json.get("results", []):
        res = r.get("result") or {}
        for k in _VALUE_KEYS:
            res.pop(k, None)
        kwargs = (r.get("expectation_config") or {}).get("kwargs") or {}
        if COUNTY_POLYGONS_PARAMETER in kwargs:
            # the polygons themselves are the warehouse's; the result names where they came from
            kwargs[COUNTY_POLYGONS_PARAMETER] = {"$PARAMETER": COUNTY_POLYGONS_PARAMETER}
    result_json.setdefault("meta", {})["yitu_skipped_checks"] = skipped
    return result_json


def _label(contract: Contract, code: str) -> str:
    spec = next((f for f in contract.fields if f.code == code), None)
    return f"{code}（{spec.label}）" if spec else code


def _failure_rows(contract: Contract, plain: pd.DataFrame, rows: list[int], rule: str,
                  severity: Any, fld: Any) -> pd.DataFrame:
    if rule == "dates_in_order":
        return _dates_failure_rows(contract, plain, rows, severity)
    label, value_col = fld, None
    codes = {f.code: f for f in contract.fields}
    if fld in codes:
        spec = codes[fld]
        label = _label(contract, fld)
        # the masked form of a personal value, never the clear one the check ran on
        value_col = f"{spec.column}_masked" if spec.pii else spec.column
    message = f"[{rule}] " + RULE_MESSAGE_ZH.get(rule, "{field}").format(field=label)
    values: list[str | None] = [None] * len(rows)
    if value_col and value_col in plain.columns:
        values = [None if pd.isna(v) else str(v) for v in plain[value_col].reindex(rows)]
    return pd.DataFrame({
        "source_row": rows, "field": fld, "rule": rule, "severity": severity,
        "message": message, "value": values,
    })


def _dates_failure_rows(contract: Contract, plain: pd.DataFrame, rows: list[int],
                        severity: Any) -> pd.DataFrame:
    """One row per failing work order naming the pair of timestamps that runs backwards."""
    order = list(contract.date_order)
    subset = plain.loc[rows, [c.lower() for c in order]]
    first, second = dates_out_of_order(subset, [c.lower() for c in order])
    text = subset.astype(str).to_numpy()
    at = np.arange(len(rows))
    codes = np.array(order, dtype=object)
    a, b = codes[first], codes[second]
    message = {(x, y): "[dates_in_order] " + RULE_MESSAGE_ZH["dates_in_order"].format(
        field=f"{_label(contract, x)} 晚于 {_label(contract, y)}")
        for x in order for y in order}
    return pd.DataFrame({
        "source_row": rows, "field": a + "≤" + b, "rule": "dates_in_order",
        "severity": severity,
        "message": [message[(x, y)] for x, y in zip(a, b, strict=True)],
        "value": a + "=" + text[at, first] + ", " + b + "=" + text[at, second]})
