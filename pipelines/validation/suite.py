"""Derive a dataset's Great Expectations suite from its contract.

The JSON written to `expectations/<dataset>.json` is this function's output, committed so
reviewers see what "good data" means; a test fails when it drifts from the contract.
"""

from __future__ import annotations

from itertools import combinations
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
    "geometry_valid": "图形无效或为空（自相交、空图形等），边界不做自动修复",
    "geometry_in_region": "坐标不在本行政区范围内",
    "dates_in_order": "时间顺序错误：{field}",
    "uscc_check": "统一社会信用代码 {field} 校验位错误（已入库并标记）",
    "id_card_check": "身份证号 {field} 校验位错误（已入库并标记）",
    "area_agrees": "面积字段 {field} 与图形椭球面积不符（已入库并标记）",
}

GEOMETRY_COLUMN = "geometry"
ROW_ID_COLUMN = "_source_row"


def id_check_column(field: FieldSpec) -> str:
    """Boolean column computed from the clear value before it is tokenised."""
    return f"{field.column}_check_ok"


def area_ratio_column(contract: Contract) -> str:
    assert contract.area_check is not None
    return f"{contract.area_check.field.lower()}_area_ratio"


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
                     column=g))
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
            exps.append(_exp("expect_column_values_to_not_be_in_set", "id_card_check", f.code,
                             column=id_check_column(f), value_set=[False]))
    for earlier, later in combinations(contract.date_order, 2):
        exps.append(_exp("expect_column_pair_values_a_to_be_greater_than_b", "dates_in_order",
                         f"{earlier}≤{later}", column_A=later.lower(), column_B=earlier.lower(),
                         or_equal=True, ignore_row_if="either_value_is_missing"))
    if contract.area_check:
        tol = contract.area_check.tolerance
        exps.append(_exp("expect_column_values_to_be_between", "area_agrees",
                         contract.area_check.field, column=area_ratio_column(contract),
                         min_value=round(1 - tol, 6), max_value=round(1 + tol, 6)))
    return {
        "name": contract.dataset,
        "expectations": exps,
        "meta": {"generated_from": f"schemas/{contract.dataset}.yml",
                 "notes": "Generated by `python -m pipelines.codegen`; do not edit by hand."},
    }
