"""Rules as the report names them: Chinese, the contract's requirement, the workbook's fix."""

from __future__ import annotations

from pipelines.contracts import load_contract, load_region
from pipelines.landing.field_rules import RULE_NAME_ZH
from pipelines.load.workbook_hints import GENERIC_HINT
from pipelines.report.rules import ALLOWED_SHOWN, rule_text
from pipelines.validate.suite import RULE_SEVERITY


def test_every_rule_of_every_suite_has_a_chinese_name_and_fix() -> None:
    region = load_region()
    for dataset in ("licenses", "complaints", "farmland_pbf"):
        contract = load_contract(dataset)
        for rule, severity in RULE_SEVERITY.items():
            text = rule_text(rule, contract.fields[0].code, severity, contract, region)
            assert text.name == RULE_NAME_ZH[rule] and text.name != rule
            assert text.hint == GENERIC_HINT[rule]
            assert text.severity in ("隔离", "标记")
            assert rule not in text.description  # no English id in what a monitor reads


def test_a_domain_rule_lists_the_allowed_values_with_county_names() -> None:
    region = load_region()
    text = rule_text("domain", "XZQDM", "fail", load_contract("licenses"), region)
    first = region.counties[0]
    assert text.description.startswith("字段 XZQDM（行政区划代码） 的值不在代码表中；允许的值：")
    assert f"{first.code}（{first.name}）" in text.description
    assert f"等 {len(region.counties)} 个" in text.description  # not all 24 spelt out
    assert region.counties[ALLOWED_SHOWN].code not in text.description


def test_patterns_and_ranges_are_said_in_words() -> None:
    region, licences = load_region(), load_contract("licenses")
    pattern = rule_text("pattern", "TYSHXYDM", "fail", licences, region)
    assert "应为：" in pattern.description and "位数字" in pattern.description
    ranged = next(f for f in load_contract("farmland_pbf").fields if f.range is not None)
    text = rule_text("range", ranged.code, "fail", load_contract("farmland_pbf"), region)
    assert f"{ranged.code}（{ranged.label}）" in text.description and "；应" in text.description


def test_a_rule_over_several_fields_and_an_unknown_rule_still_read() -> None:
    region, complaints = load_region(), load_contract("complaints")
    order = rule_text("dates_in_order", "PDSJ≤BJSJ", "fail", complaints, region)
    assert order.description == "时间顺序错误：PDSJ≤BJSJ"
    later = rule_text("new_rule", None, "warn", complaints, region)
    assert (later.name, later.severity) == ("new_rule", "标记") and later.hint
