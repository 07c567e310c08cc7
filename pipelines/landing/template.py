"""The Excel template a department fills: generated from the dataset's contract.

The first sheet is what the reader takes: a title row, a row of Chinese labels marked
（必填）/（选填） (deliberately not a header spelling the reader knows, so it is read as a
second title row), and the header row of field codes; data from row 4. Text fields are
text-formatted columns, so 046010 and 18-digit codes stay exact whatever the clerk types;
closed lists are drop-downs fed from the 代码表 sheet. For polygon datasets the sheet is the
attribute table that goes with the Shapefile or GeoPackage, and the 格式与坐标系 sheet says
which formats and reference systems are accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name

from pipelines.contracts import Contract, FieldSpec, Region
from pipelines.landing.field_rules import allowed_values, example_value, field_rules
from pipelines.landing.template_sheets import formats_sheet, readme_sheet

TITLE_ROW, LABEL_ROW, HEADER_ROW, FIRST_DATA_ROW = 0, 1, 2, 3  # 0-based: Excel rows 1-4
TEMPLATE_ROWS = 100_000  # rows the drop-downs and bounds cover
CODE_LIST_SHEET = "代码表"
README_SHEET = "说明"
FORMATS_SHEET = "格式与坐标系"
# Spellings of the coordinate systems the reader maps (DATASETS.md: CGCS2000, WGS 84, GCJ-02).
CRS_NAMES: tuple[str, ...] = ("CGCS2000", "WGS84", "GCJ02")
NUMBER_FORMATS: dict[str, str] = {
    "string": "@", "integer": "0", "number": "General", "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
}
WORKBOOK_OPTIONS: dict[str, bool] = {
    # text stays text: never turned into a number, a formula or a link on the way in
    "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False,
}


def data_sheet_name(contract: Contract) -> str:
    suffix = "属性表" if contract.geometry == "MultiPolygon" else ""
    return f"{contract.title}{suffix}"[:31]


def column_letter(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    return str(xl_col_to_name(i))


def _code_lists(wb: Any, ws: Any, contract: Contract, region: Region) -> dict[str, str]:
    """Every closed list in its own column (county names beside county codes), as text:
    field code -> the absolute range a drop-down references."""
    text = wb.add_format({"num_format": "@"})
    bold = wb.add_format({"bold": True, "num_format": "@", "bg_color": "#DDEBF7"})
    ranges: dict[str, str] = {}
    col = 0
    for f in contract.fields:
        values = allowed_values(f, region)
        if not values:
            continue
        ws.write_string(0, col, f"{f.code}（{f.label}）", bold)
        for r, v in enumerate(values, start=1):
            ws.write_string(r, col, v, text)
        width = 1
        if f.domain_ref == "county_codes":
            ws.write_string(0, col + 1, "名称", bold)
            for r, c in enumerate(region.counties, start=1):
                ws.write_string(r, col + 1, c.name, text)
            width = 2
        ws.set_column(col, col + width - 1, 22, text)
        letter = column_letter(col)
        ranges[f.code] = f"='{CODE_LIST_SHEET}'!${letter}$2:${letter}${len(values) + 1}"
        col += width + 1
    if not ranges:
        ws.write_string(0, 0, "本数据集没有代码表字段", bold)
    return ranges


def _bounds(f: FieldSpec) -> dict[str, Any]:
    assert f.range is not None
    kind = "integer" if f.type == "integer" else "decimal"
    lo, hi = f.range.min, f.range.max
    if kind == "integer":  # a whole-number check with whole bounds: 1, not 1.0
        lo, hi = (None if v is None else int(v) for v in (lo, hi))
    if lo is not None and hi is not None:
        return {"validate": kind, "criteria": "between", "minimum": lo, "maximum": hi}
    if lo is not None:
        return {"validate": kind, "criteria": ">" if f.range.strict_min else ">=", "value": lo}
    return {"validate": kind, "criteria": "<=", "value": hi}


def validation(f: FieldSpec, contract: Contract, region: Region,
               ranges: Mapping[str, str]) -> dict[str, Any] | None:
    """The drop-down or bounds Excel checks as the clerk types (the pipeline checks again)."""
    coords = contract.coordinates
    opts: dict[str, Any]
    if f.code in ranges:
        opts = {"validate": "list", "source": ranges[f.code], "error_type": "stop",
                "error_title": "不在代码表中",
                "error_message": f"{f.label}只能从下拉列表（「{CODE_LIST_SHEET}」工作表）中选择"}
    elif coords and f.code == coords.crs_field:
        opts = {"validate": "list", "source": list(CRS_NAMES), "error_type": "information",
                "error_title": "坐标系名称",
                "error_message": "建议填写 CGCS2000、WGS84 或 GCJ02；留空按默认坐标系处理"}
    elif f.check == "uscc":
        opts = {"validate": "length", "criteria": "==", "value": 18, "error_type": "stop",
                "error_title": "应为 18 位",
                "error_message": "统一社会信用代码为 18 位数字或大写字母（不含 I、O、S、V、Z）"}
    elif f.range is not None and f.type in ("integer", "number"):
        opts = {**_bounds(f), "error_type": "stop", "error_title": "超出取值范围",
                "error_message": "；".join(field_rules(f, contract, region)[1:])}
    else:
        return None
    # Excel's limits: 32 characters of title, 255 of message (xlsxwriter drops longer ones)
    opts["input_title"] = f.label[:32]
    opts["input_message"] = "；".join(field_rules(f, contract, region, list_values=False))[:255]
    opts["error_message"] = str(opts["error_message"])[:255]
    opts["error_title"] = str(opts["error_title"])[:32]
    return opts


def header_comment(f: FieldSpec, contract: Contract, region: Region) -> str:
    lines = [f"{f.code} {f.label}", *field_rules(f, contract, region),
             f"示例：{example_value(f, contract, region)}"]
    return "\n".join(lines)


def _title(contract: Contract) -> str:
    if contract.geometry == "MultiPolygon":
        return (f"{contract.title}属性表模板（{contract.department}）：本表是与图形一同报送的"
                "属性表（Shapefile/GeoPackage 的字段），不能单独报送；第 3 行为字段名；"
                f"接受的格式和坐标系见「{FORMATS_SHEET}」工作表")
    return (f"{contract.title}报送模板（{contract.department}）：第 3 行为字段代码，请勿修改；"
            f"从第 4 行起每行填写一条记录；各字段规则见第 3 行批注和「{README_SHEET}」工作表")


def _data_sheet(wb: Any, ws: Any, contract: Contract, region: Region,
                ranges: Mapping[str, str]) -> None:
    n = len(contract.fields)
    title_fmt = wb.add_format({"bold": True, "font_size": 13, "num_format": "@"})
    label_fmt = {req: wb.add_format({"bold": req, "text_wrap": True, "align": "center",
                                     "valign": "vcenter", "border": 1, "num_format": "@",
                                     "bg_color": "#FCE4D6" if req else "#F2F2F2"})
                 for req in (True, False)}
    code_fmt = wb.add_format({"bold": True, "align": "center", "bg_color": "#DDEBF7",
                              "border": 1, "num_format": "@"})
    if n > 1:
        ws.merge_range(TITLE_ROW, 0, TITLE_ROW, n - 1, _title(contract), title_fmt)
    else:
        ws.write_string(TITLE_ROW, 0, _title(contract), title_fmt)
    ws.set_row(LABEL_ROW, 36)
    for c, f in enumerate(contract.fields):
        ws.set_column(c, c, max(12, min(40, 2.2 * len(f.label) + 2)),
                      wb.add_format({"num_format": NUMBER_FORMATS[f.type]}))
        ws.write_string(LABEL_ROW, c, f"{f.label}\n（{'必填' if f.required else '选填'}）",
                        label_fmt[f.required])
        ws.write_string(HEADER_ROW, c, f.code, code_fmt)
        ws.write_comment(HEADER_ROW, c, header_comment(f, contract, region),
                         {"author": "yitu", "x_scale": 3, "y_scale": 3})
        opts = validation(f, contract, region, ranges)
        if opts is not None:
            ws.data_validation(FIRST_DATA_ROW, c, FIRST_DATA_ROW + TEMPLATE_ROWS - 1, c, opts)
    ws.freeze_panes(FIRST_DATA_ROW, 0)


def build_template(contract: Contract, region: Region, out: Path, *,
                   rule_severity: Mapping[str, str] | None = None) -> Path:
    """Write the department's .xlsx template for `contract` to `out` and return `out`.

    `rule_severity` (rule id -> "fail"/"warn", the pipeline's table) lets the 说明 sheet say
    which rules quarantine a row and which only flag it; without it the sheet says that in
    general terms."""
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(out), WORKBOOK_OPTIONS)
    try:
        wb.set_properties({"title": f"{contract.title}报送模板", "author": "yitu",
                           "subject": contract.dataset})
        # sheet order is the order added: the data sheet first, as the reader takes the first
        data = wb.add_worksheet(data_sheet_name(contract))
        readme = wb.add_worksheet(README_SHEET)
        formats = (wb.add_worksheet(FORMATS_SHEET)
                   if contract.geometry == "MultiPolygon" or contract.coordinates else None)
        codes = wb.add_worksheet(CODE_LIST_SHEET)
        ranges = _code_lists(wb, codes, contract, region)
        _data_sheet(wb, data, contract, region, ranges)
        readme_sheet(wb, readme, contract, region, rule_severity)
        if formats is not None:
            formats_sheet(wb, formats, contract, region)
        data.activate()
    finally:
        wb.close()
    return out
