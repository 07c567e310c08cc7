"""The template and the answer workbook opened by a real office suite: LibreOffice headless
converts them to CSV (what a clerk would see) and re-saves the template as Excel.

LibreOffice comes from `.ci/install` (libreoffice-calc-nogui)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
import shapely

from pipelines.contracts import Contract, load_contract, load_region
from pipelines.landing.template import CODE_LIST_SHEET, build_template, data_sheet_name
from pipelines.load.workbook import write_rejection_workbook
from pipelines.read.conform import conform
from pipelines.read.formats import open_delivery
from pipelines.validate.codes import uscc_check_char
from pipelines.validate.run import FAILURE_COLUMNS
from pipelines.validate.suite import RULE_MESSAGE_ZH, RULE_SEVERITY
from tests.corpus.rows import digit_uscc

# sep 44 (,), quote 34 ("), UTF-8 (76), from line 1, cells as shown, every sheet (-1)
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"
TIMEOUT = 240


@pytest.fixture(scope="module")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    assert found, "LibreOffice is not installed: run `bash .ci/install` (libreoffice-calc-nogui)"
    return found


def _convert(soffice: str, source: Path, outdir: Path, target: str) -> None:
    """One headless conversion with a private, throwaway profile (never the user's)."""
    profile = Path("/tmp") / f"yitu-lo-{uuid.uuid4().hex}"
    try:
        done = subprocess.run(
            [soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
             "--nolockcheck", "--convert-to", target, "--outdir", str(outdir), str(source)],
            capture_output=True, text=True, timeout=TIMEOUT, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert done.returncode == 0, done.stderr


def _sheets_as_csv(soffice: str, xlsx: Path, tmp_path: Path) -> dict[str, list[list[str]]]:
    outdir = tmp_path / f"csv-{xlsx.stem}"
    outdir.mkdir()
    _convert(soffice, xlsx, outdir, CSV_FILTER)
    sheets = {}
    for path in outdir.glob(f"{xlsx.stem}-*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            sheets[path.stem.removeprefix(f"{xlsx.stem}-")] = list(csv.reader(fh))
    assert sheets, f"LibreOffice wrote nothing for {xlsx.name}"
    return sheets


def _records(rows: list[list[str]], header_row: int = 3) -> list[dict[str, str]]:
    """Rows below a header of `label\\nCODE` cells, keyed by the code."""
    header = [h.split("\n")[-1] for h in rows[header_row - 1]]
    return [dict(zip(header, r, strict=False)) for r in rows[header_row:] if any(r)]




def _frame(contract: Contract, rows: list[dict[str, Any]], geoms: list[Any]) -> gpd.GeoDataFrame:
    data: dict[str, list[Any]] = {}
    for f in contract.fields:
        if f.pii:
            data[f"{f.column}_token"] = ["0" * 64] * len(rows)
            data[f"{f.column}_masked"] = [r.get(f"{f.column}_masked") for r in rows]
        else:
            data[f.column] = [r.get(f.column) for r in rows]
    gdf = gpd.GeoDataFrame(data, geometry=geoms, crs=4490)
    gdf["_source_row"] = range(1, len(rows) + 1)
    return gdf


def _answer(tmp_path: Path, contract: Contract, frame: gpd.GeoDataFrame,
            failures: list[dict[str, Any]], file: str) -> Path:
    return write_rejection_workbook(
        tmp_path / f"{contract.dataset}.xlsx", contract=contract, region=load_region(),
        drop={"file": file, "drop_id": "d-1", "state": "loaded"}, file_reasons=[],
        failures=pd.DataFrame(failures, columns=FAILURE_COLUMNS), frame=frame,
        rule_severity=RULE_SEVERITY, rule_message_zh=RULE_MESSAGE_ZH,
        uscc_check_char=uscc_check_char)


def test_answer_workbook_codes_come_back_exactly(soffice: str, tmp_path: Path) -> None:
    uscc = digit_uscc()
    licences = load_contract("licenses")
    lic = _frame(licences, [
        {"tyshxydm": uscc, "ztmc": "=1+2", "zs": "海南省海口市秀英区长流镇", "xzqdm": "469099",
         "zzbh": "046010", "jd": 110.29, "wd": 20.01, "clrq": pd.Timestamp("2020-03-04")},
        {"tyshxydm": "91110000600037341N", "ztmc": "海口（琼）商行", "xzqdm": "460105",
         "zzbh": "000123456789012345"}], [shapely.Point(110.29, 20.01), None])
    parcels = load_contract("farmland_pbf")
    pbf = _frame(parcels, [
        {"bsm": 7, "xzqdm": "460105", "yjjbnttbbh": "4601050000001", "dlbm": "0199",
         "qsxz": "20", "qsdwdm": "4601051002000000000", "zrrzjhm_masked": "460105********123X",
         "yjjbnttbmj": 1234.5}], [shapely.MultiPolygon([shapely.box(110.3, 19.9, 110.31, 19.91)])])
    answers = [
        _answer(tmp_path, licences, lic, [
            {"source_row": 1, "field": "XZQDM", "rule": "domain", "severity": "fail",
             "message": "[domain] 字段 XZQDM（行政区划代码） 的值不在代码表中", "value": "469099"},
            {"source_row": 2, "field": "TYSHXYDM", "rule": "uscc_check", "severity": "warn",
             "message": "", "value": "91110000600037341N"}], "licenses.xlsx"),
        _answer(tmp_path, parcels, pbf, [
            {"source_row": 1, "field": "DLBM", "rule": "domain", "severity": "fail",
             "message": "", "value": "0199"}], "parcels.zip")]
    lic_sheets = _sheets_as_csv(soffice, answers[0], tmp_path)
    assert set(lic_sheets) == {"汇总", "隔离", "标记"}
    (quarantined,) = _records(lic_sheets["隔离"])
    assert quarantined["TYSHXYDM"] == uscc and quarantined["ZZBH"] == "046010"
    assert quarantined["XZQDM"] == "469099" and quarantined["CLRQ"] == "2020-03-04"
    assert quarantined["ZTMC"] == "=1+2"  # shown as the text it is, never computed to 3
    assert quarantined["ZS"] == "海南省海口市秀英区长流镇"
    assert "460105（秀英区）" in quarantined["原因与修改建议"]
    (flagged,) = _records(lic_sheets["标记"])
    assert flagged["ZZBH"] == "000123456789012345" and flagged["ZTMC"] == "海口（琼）商行"
    assert "应为“L”，现为“N”" in flagged["原因与修改建议"]
    assert any("统一社会信用代码校验位错误" in c for r in lic_sheets["汇总"] for c in r)
    (parcel,) = _records(_sheets_as_csv(soffice, answers[1], tmp_path)["隔离"])
    assert (parcel["要素序号"], parcel["FID"]) == ("1", "0")
    assert parcel["YJJBNTTBBH"] == "4601050000001" and parcel["QSDWDM"] == "4601051002000000000"
    assert (parcel["DLBM"], parcel["QSXZ"], parcel["BSM"]) == ("0199", "20", "7")
    assert parcel["ZRRZJHM"] == "460105********123X" and "0" * 64 not in ",".join(parcel.values())


def _filled_licences(tmp_path: Path) -> tuple[Path, str]:
    contract, region = load_contract("licenses"), load_region()
    template = build_template(contract, region, tmp_path / "licenses.xlsx",
                              rule_severity=RULE_SEVERITY)
    wb = openpyxl.load_workbook(template)
    ws = wb.worksheets[0]
    codes = [c.value for c in ws[3]]
    uscc = digit_uscc()
    values = {"TYSHXYDM": uscc, "ZTMC": "海口某某商行", "XZQDM": "460106", "JD": 110.3,
              "WD": 19.93, "ZZLX": "营业执照", "ZZBH": "046010", "DJZT": "存续"}
    for code, value in values.items():
        ws.cell(4, codes.index(code) + 1).value = value
    filled = tmp_path / "filled" / "licenses.xlsx"
    filled.parent.mkdir()
    wb.save(filled)
    return filled, uscc


def test_template_sheets_read_back_exactly(soffice: str, tmp_path: Path) -> None:
    filled, uscc = _filled_licences(tmp_path)
    sheets = _sheets_as_csv(soffice, filled, tmp_path)
    data = sheets[data_sheet_name(load_contract("licenses"))]
    assert data[1][0] == "统一社会信用代码\n（必填）"
    (row,) = _records(data)
    assert (row["TYSHXYDM"], row["ZZBH"], row["XZQDM"]) == (uscc, "046010", "460106")
    codes = sheets[CODE_LIST_SHEET]
    assert [r[0] for r in codes[1:25]] == list(load_region().county_codes)
    assert codes[1][1] == "秀英区"
    pbf = build_template(load_contract("farmland_pbf"), load_region(), tmp_path / "pbf.xlsx")
    pbf_codes = _sheets_as_csv(soffice, pbf, tmp_path)[CODE_LIST_SHEET]
    dlbm = [r[3] for r in pbf_codes[1:] if len(r) > 3 and r[3]]
    assert dlbm == list(load_contract("farmland_pbf").field("DLBM").domain or ())
    assert dlbm[0] == "0101"


def test_template_saved_by_libreoffice_still_loads(soffice: str, tmp_path: Path) -> None:
    """A clerk who fills the template in LibreOffice and saves it as .xlsx: the reader still
    finds the header of codes, the text columns stay text and the drop-downs stay."""
    filled, uscc = _filled_licences(tmp_path)
    outdir = tmp_path / "resaved"
    outdir.mkdir()
    _convert(soffice, filled, outdir, "xlsx:Calc MS Excel 2007 XML")
    resaved = outdir / "licenses.xlsx"
    ws = openpyxl.load_workbook(resaved).worksheets[0]
    assert ws.column_dimensions["A"].number_format == "@"  # TYSHXYDM
    assert any("代码表" in str(dv.formula1) for dv in ws.data_validations.dataValidation)
    contract = load_contract("licenses")
    raw = open_delivery(resaved, contract, tmp_path / "work")
    assert raw.notes["header_row"] == 3 and list(raw.row_numbers) == [4]
    conformed = conform(raw, contract, load_region(), b"libreoffice-test-key-0123456789")
    assert "unknown_columns" not in conformed.notes and conformed.failures.empty
    frame = conformed.frame
    assert (frame.loc[0, "tyshxydm"], frame.loc[0, "zzbh"]) == (uscc, "046010")
