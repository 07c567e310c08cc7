"""The department's Excel template, generated from the contract: read back with openpyxl and
through the real reader (open_delivery + conform + validation)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipelines.contracts import DATASETS, Contract, load_contract, load_region
from pipelines.landing.field_rules import describe_pattern, example_value
from pipelines.landing.template import (
    CODE_LIST_SHEET,
    FORMATS_SHEET,
    README_SHEET,
    build_template,
    data_sheet_name,
)
from pipelines.read.conform import conform
from pipelines.read.formats import open_delivery
from pipelines.validate.codes import is_valid_uscc, uscc_check_char
from pipelines.validate.run import validate_frame
from pipelines.validate.suite import RULE_SEVERITY

KEY = b"template-test-key-0123456789abcdef"


def _template(contract: Contract, tmp_path: Path) -> openpyxl.Workbook:
    path = build_template(contract, load_region(), tmp_path / f"{contract.dataset}.xlsx",
                          rule_severity=RULE_SEVERITY)
    return openpyxl.load_workbook(path)


def _digit_uscc(prefix: str = "9146010012345") -> str:
    """An all-digit 18-character USCC with a right check character (a spreadsheet's worst
    case: it looks like a number)."""
    for n in range(10_000):
        first17 = f"{prefix}{n:04d}"
        check = uscc_check_char(first17)
        if check.isdigit():
            return first17 + check
    raise AssertionError("no all-digit USCC found")


@pytest.mark.parametrize("dataset", DATASETS)
def test_first_sheet_has_title_labels_and_a_header_of_codes(dataset: str,
                                                           tmp_path: Path) -> None:
    contract = load_contract(dataset)
    wb = _template(contract, tmp_path)
    ws = wb.worksheets[0]  # the sheet the reader takes
    assert ws.title == data_sheet_name(contract)
    n = len(contract.fields)
    assert [ws.cell(3, c + 1).value for c in range(n)] == [f.code for f in contract.fields]
    for c, f in enumerate(contract.fields, start=1):
        assert ws.cell(2, c).value == f"{f.label}\n（{'必填' if f.required else '选填'}）"
    assert contract.title in ws.cell(1, 1).value
    assert ws.freeze_panes == "A4"
    expected = [README_SHEET, CODE_LIST_SHEET]
    if contract.geometry == "MultiPolygon" or contract.coordinates:
        expected.insert(1, FORMATS_SHEET)
    assert wb.sheetnames[1:] == expected


@pytest.mark.parametrize("dataset", DATASETS)
def test_text_fields_are_text_columns_dates_dates_numbers_numbers(dataset: str,
                                                                 tmp_path: Path) -> None:
    contract = load_contract(dataset)
    ws = _template(contract, tmp_path).worksheets[0]
    want = {"string": "@", "date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss",
            "integer": "0", "number": "General"}
    for c, f in enumerate(contract.fields, start=1):
        letter = openpyxl.utils.get_column_letter(c)
        assert ws.column_dimensions[letter].number_format == want[f.type], f.code
    codes = [f for f in contract.fields if f.pattern or f.check or f.domain or f.domain_ref]
    assert codes and all(f.type == "string" for f in codes)  # so all of them are text columns


def _validations(ws: openpyxl.worksheet.worksheet.Worksheet) -> dict[str, Any]:
    out = {}
    for dv in ws.data_validations.dataValidation:
        (ref,) = str(dv.sqref).split()
        out[ref.split(":")[0].rstrip("0123456789")] = dv
    return out


def _list_values(wb: openpyxl.Workbook, formula: str) -> list[str]:
    sheet, cells = formula.lstrip("=").split("!")
    ws = wb[sheet.strip("'")]
    values = []
    for row in ws[cells.replace("$", "")]:
        for cell in row:
            assert cell.data_type == "s" and cell.number_format == "@"
            values.append(cell.value)
    return values


def test_closed_lists_are_drop_downs_fed_from_the_code_list_sheet(tmp_path: Path) -> None:
    region = load_region()
    for dataset in ("farmland_pbf", "licenses", "complaints", "farmland_hsf"):
        contract = load_contract(dataset)
        wb = _template(contract, tmp_path)
        dvs = _validations(wb.worksheets[0])
        for c, f in enumerate(contract.fields, start=1):
            letter = openpyxl.utils.get_column_letter(c)
            allowed = region.county_codes if f.domain_ref else f.domain
            if not allowed:
                continue
            dv = dvs[letter]
            assert dv.type == "list" and dv.errorStyle in (None, "stop"), f.code
            assert str(dv.sqref) == f"{letter}4:{letter}100003"
            assert _list_values(wb, dv.formula1) == list(allowed), f.code
    # county names beside the codes, for the clerk to look up
    codes_ws = _template(load_contract("licenses"), tmp_path)[CODE_LIST_SHEET]
    assert codes_ws["B2"].value == region.counties[0].name


def test_bounds_length_and_crs_validations(tmp_path: Path) -> None:
    pbf = _validations(_template(load_contract("farmland_pbf"), tmp_path).worksheets[0])
    gddb = pbf["N"]  # GDDB 耕地等别, 1-15
    # (openpyxl leaves out the default operator, between)
    assert (gddb.type, gddb.operator, gddb.formula1, gddb.formula2) == ("whole", None, "1", "15")
    area = pbf["M"]  # YJJBNTTBMJ > 0
    assert (area.type, area.operator, float(area.formula1)) == ("decimal", "greaterThan", 0)
    lic = _validations(_template(load_contract("licenses"), tmp_path).worksheets[0])
    assert (lic["A"].type, lic["A"].formula1) == ("textLength", "18")  # TYSHXYDM
    assert lic["L"].type == "list" and "GCJ02" in lic["L"].formula1  # ZBXT
    assert lic["L"].errorStyle == "information"  # other spellings stay allowed


def test_every_header_cell_carries_its_rules(tmp_path: Path) -> None:
    contract = load_contract("farmland_pbf")
    ws = _template(contract, tmp_path).worksheets[0]
    comments = {ws.cell(3, c).value: ws.cell(3, c).comment.text
                for c in range(1, len(contract.fields) + 1)}
    assert set(comments) == {f.code for f in contract.fields}
    assert "必填" in comments["YJJBNTTBBH"] and "不得重复" in comments["YJJBNTTBBH"]
    assert "选填" in comments["TBBH"]
    assert "0101、0102" in comments["DLBM"]
    assert "12 位数字 + 7 位数字或大写字母" in comments["QSDWDM"]
    assert "不小于 1，不大于 15" in comments["GDDB"]
    assert "GB 11643" in comments["ZRRZJHM"] and "个人信息" in comments["ZRRZJHM"]
    assert "个人信息（电话号码）" in comments["LXDH"]
    assert "椭球面积" in comments["YJJBNTTBMJ"] and "5%" in comments["YJJBNTTBMJ"]
    lic = _template(load_contract("licenses"), tmp_path).worksheets[0]
    assert "GB 32100" in lic["A3"].comment.text
    assert "经度" in lic["J3"].comment.text and "投影坐标" in lic["J3"].comment.text


def test_readme_lists_fields_and_how_the_file_is_answered(tmp_path: Path) -> None:
    contract = load_contract("licenses")
    ws = _template(contract, tmp_path)[README_SHEET]
    rows = [[c for c in r if c is not None] for r in ws.iter_rows(values_only=True)]
    by_code = {r[0]: r for r in rows[3:3 + len(contract.fields)]}
    assert by_code["TYSHXYDM"][:4] == ["TYSHXYDM", "统一社会信用代码", "是", "文本"]
    assert by_code["ZZBH"][2] == "是" and by_code["ZTLX"][2] == "否"
    assert "存续、在业" in by_code["DJZT"][4]
    text = "\n".join(str(c) for r in rows for c in r)
    assert "超过全部记录的 20%" in text
    assert "不在代码表中" in text.split("隔离（")[1].split("\n")[0]  # a fail rule
    assert "统一社会信用代码校验位错误" in text.split("标记（")[1].split("\n")[0]  # a warn rule
    assert "每次报送新增或变化的记录" in text
    admin = _template(load_contract("admin_divisions"), tmp_path)[README_SHEET]
    admin_text = "\n".join(str(c) for r in admin.iter_rows(values_only=True) for c in r if c)
    assert "任何一条记录被隔离" in admin_text and "每次报送完整数据" in admin_text


def test_polygon_formats_sheet_names_accepted_reference_systems(tmp_path: Path) -> None:
    ws = _template(load_contract("farmland_pbf"), tmp_path)[FORMATS_SHEET]
    text = "\n".join(str(c) for r in ws.iter_rows(values_only=True) for c in r if c)
    for expected in ("EPSG:4490", "EPSG:4524", "第 36 带", "EPSG:4545", "中央经线 108°E",
                     "EPSG:4525", "EPSG:4546", "EPSG:4326", "EPSG:4513–4533", "zip",
                     "GeoPackage", "YJJBNTBHTB", ".prj", "亩", "面图层不接受"):
        assert expected in text, expected
    points = _template(load_contract("complaints"), tmp_path)[FORMATS_SHEET]
    text = "\n".join(str(c) for r in points.iter_rows(values_only=True) for c in r if c)
    assert "按 GCJ02 处理" in text and "JD、WD" in text


def test_describe_pattern() -> None:
    assert describe_pattern(r"^\d{12}[0-9A-Z]{7}$").startswith(
        "12 位数字 + 7 位数字或大写字母（")
    assert describe_pattern(r"^\d{6}(?:\d{3}(?:\d{3})?)?$").startswith(
        "6 位数字［可再加 3 位数字［可再加 3 位数字］］（")
    assert describe_pattern(r"^(a|b)+$") == r"须符合格式 ^(a|b)+$"


def _fill(template: Path, rows: list[dict[str, Any]], out: Path) -> Path:
    wb = openpyxl.load_workbook(template)
    ws = wb.worksheets[0]
    codes = [c.value for c in ws[3]]
    for r, values in enumerate(rows, start=4):
        for code, value in values.items():
            ws.cell(r, codes.index(code) + 1).value = value
    wb.save(out)
    return out


def test_filled_licences_template_loads_with_every_field_mapped(tmp_path: Path) -> None:
    contract, region = load_contract("licenses"), load_region()
    template = build_template(contract, region, tmp_path / "t.xlsx")
    uscc = _digit_uscc()
    rows = [
        {"TYSHXYDM": uscc, "ZTMC": "海口某某商行", "ZTLX": "个体工商户", "FDDBR": "王五",
         "CLRQ": dt.date(2020, 3, 4), "DJJG": "海口市龙华区市场监督管理局", "JYFW": "日用百货销售",
         "ZS": "海南省海口市龙华区某路1号", "XZQDM": "460106", "JD": 110.30, "WD": 19.93,
         "ZBXT": "CGCS2000", "ZZLX": "营业执照", "ZZBH": "046010", "YXQQ": dt.date(2020, 3, 4),
         "YXQZ": dt.date(2040, 3, 4), "DJZT": "存续"},
        {"TYSHXYDM": "91110000600037341L", "ZTMC": "海南某某科技有限公司", "XZQDM": "460105",
         "JD": 110.29, "WD": 20.01, "ZBXT": "WGS84", "ZZLX": "排污许可证",
         "ZZBH": "91110000600037341L001V", "DJZT": "在业"},
        {"TYSHXYDM": "91340600MA2PBM9HXD", "ZTMC": "三亚某某酒店管理有限公司", "XZQDM": "460203",
         "JD": 109.58, "WD": 18.32, "ZBXT": "GCJ02", "ZZLX": "食品经营许可证",
         "ZZBH": "JY24602030000001"},
    ]
    filled = _fill(template, rows, tmp_path / "filled.xlsx")
    raw = open_delivery(filled, contract, tmp_path / "work")
    assert raw.notes["header_row"] == 3
    assert list(raw.row_numbers) == [4, 5, 6]
    assert sorted(raw.frame.columns) == sorted(f.code for f in contract.fields)
    conformed = conform(raw, contract, region, KEY)
    # every column mapped as it is, nothing unknown or renamed, every system understood
    assert "unknown_columns" not in conformed.notes
    assert conformed.notes["columns_mapped"] == {}
    assert conformed.notes["crs"] == {"EPSG:4490": 1, "EPSG:4326": 1, "GCJ02": 1}
    frame = conformed.frame
    assert list(frame["tyshxydm"]) == [uscc, "91110000600037341L", "91340600MA2PBM9HXD"]
    assert frame.loc[0, "zzbh"] == "046010"
    assert frame.loc[0, "clrq"] == dt.datetime(2020, 3, 4)
    assert frame.loc[0, "jd"] == pytest.approx(110.30)
    assert conformed.failures.empty
    outcome = validate_frame(contract, frame, clear_ids=conformed.clear_ids)
    assert outcome.failures.empty, outcome.failures.to_dict("records")


@pytest.mark.parametrize("dataset", ["licenses", "complaints"])
def test_documented_examples_pass_every_rule(dataset: str, tmp_path: Path) -> None:
    """A row of the 说明 sheet's examples loads clean (personal fields left empty)."""
    contract, region = load_contract(dataset), load_region()
    example = {f.code: example_value(f, contract, region) for f in contract.fields if not f.pii}
    assert is_valid_uscc(example.get("TYSHXYDM", example.get("SJQYXYDM", "")))
    template = build_template(contract, region, tmp_path / "t.xlsx")
    raw = open_delivery(_fill(template, [example], tmp_path / "f.xlsx"), contract,
                        tmp_path / "work")
    conformed = conform(raw, contract, region, KEY)
    assert conformed.failures.empty
    assert validate_frame(contract, conformed.frame, clear_ids=conformed.clear_ids).failures.empty
