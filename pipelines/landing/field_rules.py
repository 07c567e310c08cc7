"""A contract's field rules in the words a department clerk reads.

Shared by the department's Excel template (`contracts_template`) and the answer workbook
(`answer_workbook`): both say what a field must hold, in Chinese, from the contract alone.
"""

from __future__ import annotations

import re

from pipelines.contracts import Contract, FieldSpec, Region

TYPE_ZH: dict[str, str] = {
    "string": "文本", "integer": "整数", "number": "数字", "date": "日期（如 2024-05-31）",
    "datetime": "日期时间（如 2024-05-31 09:30:00）",
}
UNIT_ZH: dict[str, str] = {"m2": "平方米", "mu": "亩"}
PII_ZH: dict[str, str] = {"name": "姓名", "id_number": "证件号码", "phone": "电话号码"}
# Short Chinese names of the rules a department may be answered with; an id not listed here
# is shown as it is, so a rule added later still reaches the clerk.
RULE_NAME_ZH: dict[str, str] = {
    "required": "必填字段为空", "type": "类型不符", "damaged_code": "代码被表格软件损坏",
    "too_large": "文件超过系统上限", "bad_characters": "含无法保存的字符",
    "domain": "不在代码表中", "pattern": "格式不正确", "range": "超出取值范围",
    "key_unique": "编号重复", "geometry_valid": "图形或坐标无效",
    "geometry_in_region": "坐标不在本行政区", "dates_in_order": "时间先后顺序错误",
    "county_location": "区划代码与位置不符", "uscc_check": "统一社会信用代码校验位错误",
    "id_card_check": "身份证号校验位错误", "area_agrees": "面积与图形不符",
    "too_many_bad_rows": "不合格记录过多", "unreadable": "文件无法读取",
    "missing_columns": "缺少必填列", "duplicate_columns": "列重复", "file_empty": "文件为空",
    "encoding": "编码无法识别", "format": "文件格式不支持", "layer": "图层无法确定",
    "crs": "坐标系不接受",
}
SEVERITY_ZH: dict[str, str] = {"fail": "隔离", "warn": "标记"}
# Identifying fields of datasets without a key, most telling first (标识码, 证照编号, 工单编号,
# 项目编号, 图斑编号): the department finds its row by them.
IDENTIFYING_CODES: tuple[str, ...] = ("BSM", "ZZBH", "GDBH", "XMBH", "TBBH")
USCC_EXAMPLE = "91110000600037341L"  # GB 32100's own worked example (DATASETS.md)
USCC_LETTERS = "0123456789ABCDEFGHJKLMNPQRTUWXY"

_TOKEN = re.compile(r"\\d|\[[^\]]+\]|\(\?:|\)\??|\{\d+(?:,\d*)?\}|\?|.")


def rule_name(rule: str) -> str:
    return RULE_NAME_ZH.get(rule, rule)


def field_label(f: FieldSpec) -> str:
    return f"{f.code}（{f.label}）"


def identifying_field(contract: Contract) -> FieldSpec | None:
    """The field a clerk knows a row by: the key, else the first identifying code present,
    else the first required field."""
    codes = {f.code: f for f in contract.fields}
    if contract.key:
        return codes[contract.key]
    for code in IDENTIFYING_CODES:
        if code in codes:
            return codes[code]
    return next((f for f in contract.fields if f.required), None)


def allowed_values(f: FieldSpec, region: Region) -> tuple[str, ...] | None:
    if f.domain_ref == "county_codes":
        return region.county_codes
    return f.domain


def allowed_text(f: FieldSpec, region: Region) -> str | None:
    """The closed list a value must come from, with county names for county codes."""
    if f.domain_ref == "county_codes":
        return "、".join(f"{c.code}（{c.name}）" for c in region.counties)
    return "、".join(f.domain) if f.domain else None


def _class_text(cls: str) -> str:
    if cls == "[0-9A-HJ-NPQRTUWXY]":
        return "数字或大写字母（不含 I、O、S、V、Z）"
    if cls in ("[0-9A-Z]", "[A-Z0-9]"):
        return "数字或大写字母"
    if cls == "[0-9]":
        return "数字"
    return f"{cls} 中的字符"


def describe_pattern(pattern: str) -> str:
    """A contract pattern in words: 12 位数字 + 7 位数字或大写字母. Patterns beyond the simple
    forms contracts use are given as they are."""
    body = pattern.removeprefix("^").removesuffix("$")
    parts: list[str] = []
    depth = 0
    try:
        tokens = _TOKEN.findall(body)
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            count = "1"
            if i + 1 < len(tokens) and tokens[i + 1].startswith("{"):
                count = tokens[i + 1].strip("{}").replace(",", "-")
                i += 1
            if tok == r"\d":
                parts.append(f"{count} 位数字")
            elif tok.startswith("["):
                parts.append(f"{count} 位{_class_text(tok)}")
            elif tok == "(?:":
                parts.append("［可再加")
                depth += 1
            elif tok in (")?", ")"):
                parts.append("］")
                depth -= 1
            else:
                raise ValueError(tok)
            i += 1
    except ValueError:
        return f"须符合格式 {pattern}"
    if depth:
        return f"须符合格式 {pattern}"
    text = " + ".join(parts).replace(" + ［可再加 + ", "［可再加 ").replace(" + ］", "］")
    return f"{text}（格式 {pattern}）"


def range_text(f: FieldSpec) -> str | None:
    if f.range is None:
        return None
    r = f.range
    lo = None if r.min is None else f"{'大于' if r.strict_min else '不小于'} {r.min:g}"
    hi = None if r.max is None else f"不大于 {r.max:g}"
    return "，".join(x for x in (lo, hi) if x)


def field_rules(f: FieldSpec, contract: Contract, region: Region, *,
                list_values: bool = True) -> list[str]:
    """Each rule of one field as a short Chinese sentence; without `list_values` a closed
    list is referred to the code-list sheet instead of spelt out (for short tooltips)."""
    out = ["必填" if f.required else "选填", f"类型：{TYPE_ZH[f.type]}"]
    if f.unit:
        out.append(f"单位：{UNIT_ZH.get(f.unit, f.unit)}")
    if contract.key == f.code:
        out.append("本次报送中不得重复（编号）")
    allowed = allowed_text(f, region)
    if allowed and list_values:
        out.append(f"只能填代码表中的值：{allowed}")
    elif allowed:
        out.append("只能从下拉列表（代码表）中选择")
    if f.pattern:
        out.append(f"格式：{describe_pattern(f.pattern)}")
    rng = range_text(f)
    if rng:
        out.append(f"取值：{rng}")
    if f.check == "uscc":
        out.append("第 18 位为校验码（GB 32100），校验不符的记录入库并标记")
    if f.check == "id_card":
        out.append("第 18 位为校验码（GB 11643，X 表示 10），校验不符的记录入库并标记")
    if f.pii:
        out.append(f"个人信息（{PII_ZH[f.pii]}）：入库时只保留脱敏形式和不可逆标识")
    if f.free_text:
        out.append("自由文本：其中的手机号和身份证号入库时脱敏")
    if contract.area_check and contract.area_check.field == f.code:
        ac = contract.area_check
        out.append(f"须与图形椭球面积（CGCS2000）相符，误差不超过 {ac.tolerance:.0%}")
    if contract.coordinates and f.code in (contract.coordinates.lon, contract.coordinates.lat):
        axis = "经度" if f.code == contract.coordinates.lon else "纬度"
        out.append(f"{axis}，十进制度（如 110.3 / 20.0），不要填投影坐标（米）")
    if contract.coordinates and f.code == contract.coordinates.crs_field:
        out.append("坐标系名称：CGCS2000、WGS84 或 GCJ02；留空按 "
                   f"{contract.coordinates.default_crs} 处理")
    if f.code in contract.date_order:
        order = " ≤ ".join(contract.date_order)
        out.append(f"时间先后：{order}")
    return out


def _pattern_example(pattern: str, region: Region) -> str:
    digits = (region.county_codes[0] + "100200" + "0" * 40) if region.counties else "1" * 60
    out, used = "", 0
    for tok, count in re.findall(r"(\\d|\[[^\]]+\])(?:\{(\d+)\})?", pattern.split("(?:")[0]):
        n = int(count or 1)
        out += digits[used:used + n] if tok == r"\d" else "0" * n
        used += n
    return out


def example_value(f: FieldSpec, contract: Contract, region: Region) -> str:
    """A value that passes every rule of the field (personal data excepted)."""
    allowed = allowed_values(f, region)
    coords = contract.coordinates
    if f.pii:
        return "（按实际填写）"
    if allowed:
        return allowed[0]
    if f.check == "uscc":
        return USCC_EXAMPLE
    if f.pattern:
        return _pattern_example(f.pattern, region)
    if coords and region.counties and f.code in (coords.lon, coords.lat):
        seat = region.counties[0].seat
        return f"{seat[0] if f.code == coords.lon else seat[1]}"
    if f.type == "integer":
        lo = f.range.min if f.range and f.range.min is not None else 1
        return f"{int(lo) + (1 if f.range and f.range.strict_min else 0)}"
    if f.type == "number":
        return "1234.56"
    if f.type == "date":
        return "2024-05-31"
    if f.type == "datetime":
        return "2024-05-31 09:30:00"
    return "（按实际填写）"
