"""Values and encodings as departments really send them: real CSV, XLSX and Shapefile files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from shapely.geometry import Polygon

from pipelines import pii
from pipelines.contracts import load_contract, load_region
from pipelines.read.conform import Conformed, conform
from pipelines.read.formats import open_delivery

KEY = b"unit-test-key-0123456789"
USCC = "911100006000373412"  # an all-digit 18-character code a spreadsheet would round
LICENCE = {"TYSHXYDM": "91110000600037341L", "ZTMC": "海口甲乙商贸有限公司", "XZQDM": "460105",
           "JD": "110.3", "WD": "20.0", "ZZLX": "营业执照", "ZZBH": "Z-1"}


def _read(path: Path, dataset: str, tmp_path: Path) -> Conformed:
    contract = load_contract(dataset)
    return conform(open_delivery(path, contract, tmp_path / "work"), contract, load_region(), KEY)


@pytest.mark.parametrize(("encoding", "detected", "text"), [
    ("utf-8", "UTF-8", "海口甲乙商贸有限公司"),
    ("utf-8-sig", "UTF-8 with BOM", "海口甲乙商贸有限公司"),
    ("gbk", "GBK", "海口甲乙商贸有限公司"),
    ("gb18030", "GB18030", "海口𠮷祥商贸有限公司"),  # 𠮷 is outside GBK
])
def test_csv_encodings_are_detected_and_named(tmp_path: Path, encoding: str, detected: str,
                                              text: str) -> None:
    path = tmp_path / "licenses.csv"
    pd.DataFrame([{**LICENCE, "ZTMC": text}]).to_csv(path, index=False, encoding=encoding)
    result = _read(path, "licenses", tmp_path)
    assert result.notes["encoding_detected"] == detected
    assert result.frame["ztmc"].iloc[0] == text
    assert list(result.frame.columns[:1]) == ["tyshxydm"]  # the BOM is not part of the header


def test_shapefile_with_utf8_cpg_is_read_as_utf8(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    gdf = gpd.GeoDataFrame({"XZQDM": ["460105"], "YJJBNTTBBH": ["4601050000001"],
                            "DLBM": ["0101"], "DLMC": ["水田"], "YJJBNTTBMJ": [1000.0]},
                           geometry=[Polygon([(110.30, 20.0), (110.31, 20.0), (110.31, 20.01)])],
                           crs=4490)
    gdf.to_file(src / "YJJBNTBHTB.shp", encoding="UTF-8")
    assert (src / "YJJBNTBHTB.cpg").read_text().strip().upper().replace("-", "") == "UTF8"
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for member in src.iterdir():
            zf.write(member, member.name)
    result = _read(path, "farmland_pbf", tmp_path)
    assert "from .cpg" in result.notes["encoding"]
    assert result.frame["dlmc"].iloc[0] == "水田"


def test_full_width_digits_and_lowercase_x_are_normalised(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({
        "XZQDM": ["４６０１０５"], "YJJBNTTBBH": ["４６０１０５０００００01"], "DLBM": ["０１０１"],
        "YJJBNTTBMJ": ["１０００．５"], "GDDB": ["３"],
        "ZRRZJHM": ["11010519491231002x"], "LXDH": ["+86 138-1234-5678"],
    }, geometry=[Polygon([(110.30, 20.0), (110.31, 20.0), (110.31, 20.01)])], crs=4490)
    path = tmp_path / "parcels.gpkg"
    gdf.to_file(path, layer="YJJBNTBHTB")
    result = _read(path, "farmland_pbf", tmp_path)
    row = result.frame.iloc[0]
    assert (row["xzqdm"], row["dlbm"], row["yjjbnttbbh"]) == ("460105", "0101", "4601050000001")
    assert row["yjjbnttbmj"] == 1000.5 and row["gddb"] == 3
    assert bool(row["zrrzjhm_check_ok"])  # the lowercase x is the valid check character
    assert row["zrrzjhm_token"] == pii.token("11010519491231002X", "id_number", KEY)
    assert row["lxdh_token"] == pii.token("13812345678", "phone", KEY)
    assert result.failures.empty


def _licences_xlsx(path: Path, codes: list[object], exact_ints: bool = False) -> None:
    """What Excel writes: a header, then codes as the clerk's cells hold them."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(list(LICENCE))
    for i, code in enumerate(codes):
        ws.append([code, *[v if k != "ZZBH" else f"Z-{i}" for k, v in LICENCE.items()][1:]])
    ws["C2"] = 460105  # a county code typed as a number: its digits are exact
    wb.save(path)
    if not exact_ints:
        return
    # openpyxl writes a big int as a float; some exporters write all 18 digits: do as they do.
    exact = f"{float(USCC)!r}".encode()
    with zipfile.ZipFile(path) as src:
        parts = {i.filename: src.read(i) for i in src.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b"<v>" + exact + b"</v>", f"<v>{USCC}</v>".encode())
    with zipfile.ZipFile(path, "w") as dst:
        for name, data in parts.items():
            dst.writestr(name, data)


def test_xlsx_code_cells_typed_as_numbers_keep_exact_digits(tmp_path: Path) -> None:
    path = tmp_path / "licenses.xlsx"
    _licences_xlsx(path, [int(USCC), "91110000600037341L"], exact_ints=True)
    result = _read(path, "licenses", tmp_path)
    assert list(result.frame["tyshxydm"]) == [USCC, "91110000600037341L"]
    assert result.frame["xzqdm"].iloc[0] == "460105"
    assert "damaged_code" not in set(result.failures["rule"])


def test_code_damaged_by_a_spreadsheet_is_a_row_failure_naming_the_cell(tmp_path: Path) -> None:
    path = tmp_path / "licenses.xlsx"
    # a rounded double (what Excel keeps of 911100006000373412) and the text Excel shows of it
    _licences_xlsx(path, ["91110000600037341L", float(USCC), "9.1110000600037E+17"])
    result = _read(path, "licenses", tmp_path)
    damaged = result.failures[result.failures["rule"] == "damaged_code"]
    assert list(damaged["source_row"]) == [3, 4]
    assert set(damaged["severity"]) == {"fail"} and set(damaged["field"]) == {"TYSHXYDM"}
    assert damaged["message"].iloc[0].startswith("[damaged_code] 第 3 行 TYSHXYDM（统一社会信用代码） 单元格")
    assert list(damaged["value"]) == ["9.11100006000373E+17", "9.1110000600037E+17"]


def test_damaged_id_number_is_reported_without_its_digits(tmp_path: Path) -> None:
    path = tmp_path / "farmland.csv"
    pd.DataFrame({"XZQDM": ["460105"], "YJJBNTTBBH": ["1"], "DLBM": ["0101"],
                  "YJJBNTTBMJ": ["10"], "ZRRZJHM": ["1.10105194912310E+17"]}).to_csv(path, index=False)
    contract = load_contract("farmland_pbf")
    from pipelines.read.row_checks import damaged_codes
    raw = open_delivery(path, contract, tmp_path / "work")
    frame = raw.frame.rename(columns=str.lower)
    found = damaged_codes(frame, contract, raw.row_numbers)
    assert list(found["field"]) == ["ZRRZJHM"] and found["value"].isna().all()


def test_xlsx_two_row_header_with_merged_group_titles(tmp_path: Path) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["海南省市场主体证照信息"])
    ws.merge_cells("A1:H1")
    ws.append(["统一社会信用代码", "主体名称", "行政区划代码", "位置", None, "证照", None, "有效期至"])
    ws.append([None, None, None, "经度", "纬度", "证照类型", "证照编号", None])
    for col in ("A", "B", "C", "H"):  # names merged down over both header rows
        ws.merge_cells(f"{col}2:{col}3")
    ws.merge_cells("D2:E2")
    ws.merge_cells("F2:G2")
    ws.append(["91110000600037341L", "甲公司", "460105", 110.3, 20.0, "营业执照", "Z-1", "2030-01-01"])
    path = tmp_path / "licenses.xlsx"
    wb.save(path)
    result = _read(path, "licenses", tmp_path)
    assert result.notes["header_row"] == 3
    row = result.frame.iloc[0]
    assert (row["tyshxydm"], row["zzlx"], row["zzbh"]) == ("91110000600037341L", "营业执照", "Z-1")
    assert str(row["yxqz"].date()) == "2030-01-01"
    assert list(result.frame["_source_row"]) == [4]
    assert row.geometry.x == pytest.approx(110.3)


def test_code_stripped_of_its_leading_zero_is_a_damaged_code(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"XZQDM": ["460105", "460105"], "YJJBNTTBBH": ["1", "2"],
                            "DLBM": ["101", "0101"], "YJJBNTTBMJ": [10.0, 10.0]},
                           geometry=[Polygon([(110.30, 20.0), (110.31, 20.0), (110.31, 20.01)])] * 2,
                           crs=4490)
    path = tmp_path / "parcels.gpkg"
    gdf.to_file(path, layer="YJJBNTBHTB")
    failures = _read(path, "farmland_pbf", tmp_path).failures
    assert failures[["source_row", "field", "rule", "value"]].values.tolist() == [
        [1, "DLBM", "damaged_code", "101"]]
