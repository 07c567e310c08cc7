"""Run a dataset's GX suite over a conformed frame and turn the result into row outcomes."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines.contracts import Contract
from pipelines.geodesy import ellipsoidal_area_m2
from pipelines.validation.suite import (
    GEOMETRY_COLUMN,
    ROW_ID_COLUMN,
    RULE_MESSAGE_ZH,
    area_ratio_column,
)

log = logging.getLogger(__name__)

EXPECTATIONS_DIR = Path(__file__).resolve().parents[2] / "expectations"
MU_PER_M2 = 15 / 10000
# Result keys that would copy cell values (possibly personal) into stored results.
_VALUE_KEYS = ("unexpected_list", "partial_unexpected_list", "partial_unexpected_counts",
               "unexpected_index_list", "partial_unexpected_index_list", "unexpected_rows",
               "unexpected_index_query")
FAILURE_COLUMNS = ["source_row", "field", "rule", "severity", "message", "value"]


@dataclass
class ValidationOutcome:
    failures: pd.DataFrame  # one row per (source row, rule, field) that failed
    stats: list[dict[str, Any]]  # one per expectation: rule, field, severity, counts
    result: dict[str, Any]  # the GX suite result, values removed, for Data Docs
    fail_rows: set[int] = field(default_factory=set)

    @property
    def warn_rows(self) -> set[int]:
        warn = self.failures[self.failures["severity"] == "warn"]
        return set(warn["source_row"].astype(int)) - self.fail_rows


def load_suite_json(dataset: str, expectations_dir: Path = EXPECTATIONS_DIR) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((expectations_dir / f"{dataset}.json").read_text("utf-8"))
    return data


def gx_context(mode: str = "ephemeral", project_root_dir: Path | None = None) -> Any:
    """A GX context that stays quiet: no usage analytics sent out, no progress bars."""
    # Government data: nothing about it leaves the machine, not even usage statistics.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx  # heavy: imported only when validating
    from great_expectations.data_context.types.base import ProgressBarsConfig

    import pipelines.validation.custom_expectations  # noqa: F401  registers our expectations

    root = str(project_root_dir) if project_root_dir else None
    context = gx.get_context(mode=mode, project_root_dir=root)  # type: ignore[call-overload]
    # Progress bars would flood the Airflow task logs with one line per metric.
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@cache
def _batch_definition() -> Any:
    context = gx_context()
    source = context.data_sources.add_pandas("yitu")
    return source.add_dataframe_asset("delivery").add_batch_definition_whole_dataframe("all")


def _suite(suite_json: dict[str, Any]) -> Any:
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    suite = gx.ExpectationSuite(name=suite_json["name"], meta=suite_json.get("meta", {}))
    for e in suite_json["expectations"]:
        config = ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e["meta"])
        suite.add_expectation_configuration(config)
    return suite


def derive_check_columns(contract: Contract, frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """The plain frame GX validates: attributes, geometry objects, and derived check columns."""
    plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    plain[GEOMETRY_COLUMN] = np.asarray(frame.geometry.values, dtype=object)
    if contract.area_check:
        stated = pd.to_numeric(plain[contract.area_check.field.lower()], errors="coerce")
        true_m2 = ellipsoidal_area_m2(frame.geometry)
        true = true_m2 * MU_PER_M2 if contract.area_check.unit == "mu" else true_m2
        with np.errstate(divide="ignore", invalid="ignore"):
            plain[area_ratio_column(contract)] = np.where(true > 0, stated / true, np.nan)
    return plain


def _scrub(result_json: dict[str, Any]) -> dict[str, Any]:
    for r in result_json.get("results", []):
        res = r.get("result") or {}
        for k in _VALUE_KEYS:
            res.pop(k, None)
    return result_json


def validate_frame(contract: Contract, frame: gpd.GeoDataFrame,
                   suite_json: dict[str, Any] | None = None) -> ValidationOutcome:
    """Validate one delivery; every failing row is known by its source row number."""
    suite_json = suite_json or load_suite_json(contract.dataset)
    plain = derive_check_columns(contract, frame)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": plain})
    result = batch.validate(_suite(suite_json), result_format={
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [ROW_ID_COLUMN],
        "partial_unexpected_count": 0,
    })
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
        rows = [int(i[ROW_ID_COLUMN]) for i in res.get("unexpected_index_list") or []]
        if not rows:
            continue
        failures.append(_failure_rows(contract, plain, rows, rule, severity, fld))
    table = (pd.concat(failures, ignore_index=True) if failures
             else pd.DataFrame(columns=FAILURE_COLUMNS))
    fail_rows = set(table.loc[table["severity"] == "fail", "source_row"].astype(int))
    return ValidationOutcome(table, stats, _scrub(result.to_json_dict()), fail_rows)


def _failure_rows(contract: Contract, plain: pd.DataFrame, rows: list[int], rule: Any,
                  severity: Any, fld: Any) -> pd.DataFrame:
    label = fld
    value_col: str | None = None
    codes = {f.code: f for f in contract.fields}
    if fld in codes:
        spec = codes[fld]
        label = f"{spec.code}（{spec.label}）"
        value_col = f"{spec.column}_masked" if spec.pii else spec.column
    message = f"[{rule}] " + RULE_MESSAGE_ZH.get(str(rule), "{field}").format(field=label)
    values: list[str | None] = [None] * len(rows)
    if value_col and value_col in plain.columns:
        by_row = plain.set_index(ROW_ID_COLUMN)[value_col]
        values = [None if pd.isna(v) else str(v) for v in by_row.reindex(rows)]
    return pd.DataFrame({
        "source_row": rows, "field": fld, "rule": rule, "severity": severity,
        "message": message, "value": values,
    })
