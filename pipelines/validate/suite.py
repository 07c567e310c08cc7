"""Derive a dataset's Great Expectations suite from its contract.

The JSON written to `expectations/<dataset>.json` is this function's output, committed so
reviewers see what "good data" means; a test fails when it drifts from the contract.
"""

from __future__ import annotations

import json
from typing import Any

from pipelines.contracts import Contract, FieldSpec, Region

# severity per rule: `fail` rows go to quarantine, `warn` rows load with a flag.
RULE_SEVERITY: dict[str, str] = {
    "required": "fail",
    "type": "fail",
    "damaged_code": "fail",
    "domain": "fail",
    "pattern": "fail",
    "range": "fail",
    "key_unique": "fail",
    "geometry_valid": "fail",
    "geometry_in_region": "fail",
    "dates_in_order": "fail",
    # Warn, not fail: the code is a real county and the feature is in the region; which one
    # is right is for the department to say. Integration publishes it as a county_mismatch.
    "county_location": "warn",
    "uscc_check": "warn",
    "id_card_check": "warn",
    "area_agrees": "warn",
}

# What a department clerk reads; {field} is "CODE（中文名）".
RULE_MESSAGE_ZH: dict[str, str] = {
    "required": "必填字段 {field} 为空",
    "type": "字段 {field} 的值无法识别为规定类型（数字或日期）",
    "damaged_code": "字段 {field} 的代码已被电子表格损坏（科学计数法、丢失位数或前导零），"
                    "请将该列设为文本格式后重新导出报送",
    "domain": "字段 {field} 的值不在代码表中",
    "pattern": "字段 {field} 的格式不正确",
    "range": "字段 {field} 的数值超出允许范围",
    "key_unique": "字段 {field} 在本次报送中重复，重复的记录未入库",
    "geometry_valid": "图形无效、为空或类型不符（自相交、空图形、点面混用等），边界不做自动修复",
    "geometry_in_region": "坐标不在本行政区范围内",
    "dates_in_order": "时间顺序错误：{field}",
    "county_location": "行政区划代码 {field} 与图形所在的县级行政区不一致（已入库并标记）",
    "uscc_check": "统一社会信用代码 {field} 校验位错误（已入库并标记）",
    "id_card_check": "身份证号 {field} 校验位错误（已入库并标记）",
    "area_agrees": "面积字段 {field} 与图形椭球面积不符（已入库并标记）",
}

GEOMETRY_COLUMN = "geometry"
ROW_ID_COLUMN = "_source_row"


# The expectation parameter that carries the current county polygons (code -> WKB hex).
COUNTY_POLYGONS_PARAMETER = "county_polygons"


def id_clear_column(field: FieldSpec) -> str:
    """The transient column holding the clear ID number during validation, in memory only."""
    return f"{field.column}_clear"


def _exp(type_: str, rule: str, field: str, **kwargs: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "kwargs": kwargs,
        "meta": {"rule": rule, "severity": RULE_SEVERITY[rule], "field": field},
    }


def build_suite(contract: Contract, region: Region) -> dict[str, Any]:
    """The suite as a JSON-able dict: `{"name", "expectations": [{type, kwargs, meta}], "meta"}`."""
    exps: list[dict[str, Any]] = []
    g = GEOMETRY_COLUMN
    if contract.geometry_required:
        exps.append(_exp("expect_column_values_to_not_be_null", "geometry_valid", "geometry",
                         column=g))
    exps.append(_exp("expect_column_values_to_be_valid_geometry", "geometry_valid", "geometry",
                     column=g, geometry_type=contract.geometry))
    ext = region.extent
    exps.append(_exp("expect_column_values_to_be_within_extent", "geometry_in_region", "geometry",
                     column=g, min_lon=ext.min_lon, min_lat=ext.min_lat,
                     max_lon=ext.max_lon, max_lat=ext.max_lat))
    if contract.key:
        exps.append(_exp("expect_column_values_to_be_first_occurrence", "key_unique",
                         contract.key, column=contract.key.lower()))
    for f in contract.fields:
        col = f.column
        if f.pii:
            # Clear personal data never reaches validation: rules run on the token or a flag.
            col = f"{col}_token"
        if f.required:
            exps.append(_exp("expect_column_values_to_not_be_null", "required", f.code, column=col))
        domain = region.county_codes if f.domain_ref == "county_codes" else f.domain
        if domain is not None:
            exps.append(_exp("expect_column_values_to_be_in_set", "domain", f.code,
                             column=col, value_set=list(domain)))
        if f.pattern and not f.pii:
            exps.append(_exp("expect_column_values_to_match_regex", "pattern", f.code,
                             column=col, regex=f.pattern))
        if f.range is not None:
            bounds: dict[str, Any] = {}
            if f.range.min is not None:
                bounds["min_value"] = f.range.min
                bounds["strict_min"] = f.range.strict_min
            if f.range.max is not None:
                bounds["max_value"] = f.range.max
            exps.append(_exp("expect_column_values_to_be_between", "range", f.code,
                             column=col, **bounds))
        if f.check == "uscc":
            exps.append(_exp("expect_column_values_to_be_valid_uscc", "uscc_check", f.code,
                             column=col))
        if f.check == "id_card":
            exps.append(_exp("expect_column_values_to_be_valid_id_card_number", "id_card_check",
                             f.code, column=id_clear_column(f)))
        if f.domain_ref == "county_codes":
            exps.append(_exp("expect_column_pair_county_code_to_match_location",
                             "county_location", f.code, column_A=col, column_B=g,
                             county_polygons={"$PARAMETER": COUNTY_POLYGONS_PARAMETER}))
    if contract.date_order:
        exps.append(_exp("expect_multicolumn_datetimes_to_be_in_order", "dates_in_order",
                         "≤".join(contract.date_order),
                         column_list=[c.lower() for c in contract.date_order]))
    if contract.area_check:
        exps.append(_exp("expect_column_pair_stated_area_to_agree_with_geometry", "area_agrees",
                         contract.area_check.field, column_A=contract.area_check.field.lower(),
                         column_B=g, unit=contract.area_check.unit,
                         tolerance=contract.area_check.tolerance))
    return {
        "name": contract.dataset,
        "expectations": exps,
        "meta": {"generated_from": f"schemas/{contract.dataset}.yml",
                 "notes": "Generated by `python -m pipelines.codegen`; do not edit by hand."},
    }


def suite_text(contract: Contract, region: Region) -> str:
    """The suite as the JSON committed to `expectations/<dataset>.json`."""
    return json.dumps(build_suite(contract, region), ensure_ascii=False, indent=2) + "\n"
