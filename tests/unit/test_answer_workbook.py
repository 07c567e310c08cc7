"""The answer workbook for one drop: hand-made frames for each rule's hint, real files for
row numbers, and the sample data's planted defects end to end."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely

from pipelines.contracts import Contract, load_contract, load_region
from pipelines.geodesy import ellipsoidal_area_m2
from pipelines.load.workbook import write_rejection_workbook
from pipelines.load.workbook_rows import read_feature_ids, row_numbering
from pipelines.read.conform import conform
from pipelines.read.formats import open_delivery
from pipelines.sample.region import counties as sample_counties
from pipelines.validate.codes import uscc_check_char
from pipelines.validate.run import FAILURE_COLUMNS, validate_frame
from pipelines.validate.suite import RULE_MESSAGE_ZH, RULE_SEVERITY
from tests.corpus.rows import digit_uscc

KEY = b"answer-test-key-0123456789abcdef"
RED, YELLOW = "FFFFC7CE", "FFFFEB9C"
FIXED = ("行号", "要素序号", "FID", "问题", "原因与修改建议")


def _counties() -> gpd.GeoDataFrame:
    cs = sample_counties()
    return gpd.GeoDataFrame({"county_code": [c.code for c in cs]},
                            geometry=[c.polygon for c in cs], crs=4490).rename_geometry("geom")


def _write(tmp_path: Path, contract: Contract, failures: list[dict[str, Any]] | pd.DataFrame,
           frame: pd.DataFrame | None, *, file: str = "delivery.xlsx", state: str = "loaded",
           file_reasons: list[dict[str, Any]] | None = None, **kwargs: Any) -> openpyxl.Workbook:
    table = failures if isinstance(failures, pd.DataFrame) else \
        pd.DataFrame(failures, columns=FAILURE_COLUMNS)
    out = write_rejection_workbook(
        tmp_path / "answer.xlsx", contract=contract, region=load_region(),
        drop={"file": file, "drop_id": "drop-1", "state": state, "rows_read": 3,
              "notes": {"header_row": 2, "format": "XLSX"}},
        file_reasons=file_reasons or [], failures=table, frame=frame,
        rule_severity=RULE_SEVERITY, rule_message_zh=RULE_MESSAGE_ZH,
        uscc_check_char=uscc_check_char, **kwargs)
    return openpyxl.load_workbook(out)


def _rows(ws: Any) -> list[dict[str, Any]]:
    """A rows sheet as dicts keyed by field code (or fixed column name), cells as values."""
    header = [str(c.value) for c in ws[3]]
    keys = [h if h in FIXED else h.split("\n")[-1] if "\n" in h else h for h in header]
    return [{k: c for k, c in zip(keys, row, strict=True)}
            for row in ws.iter_rows(min_row=4) if row[0].value not in (None, "无")]


def _all_text(wb: openpyxl.Workbook) -> str:
    parts = []
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                parts += [str(c.value)] if c.value is not None else []
                parts += [c.comment.text] if c.comment else []
    return "\n".join(parts)


def _licences(rows: list[dict[str, Any]], start: int = 3) -> gpd.GeoDataFrame:
    """A conformed licences frame: every field, typed; points from JD/WD."""
    contract = load_contract("licenses")
    base: dict[str, Any] = {f.column: None for f in contract.fields}
    base.update(tyshxydm="91110000600037341L", ztmc="海口某某商行", xzqdm="460105",
                jd=110.29, wd=20.01, zzlx="营业执照", zzbh="Z1", djzt="存续",
                clrq=pd.Timestamp("2020-03-04"))
    records = [{**base, **r} for r in rows]
    frame = pd.DataFrame(records)
    geoms = [shapely.Point(r["jd"], r["wd"]) if np.isfinite([r["jd"], r["wd"]]).all()
             else None for r in records]
    gdf = gpd.GeoDataFrame(frame, geometry=geoms, crs=4490)
    gdf["_source_row"] = range(start, start + len(gdf))
    return gdf


def _failure(row: int, field: str, rule: str, value: Any = None, message: str | None = None
             ) -> dict[str, Any]:
    return {"source_row": row, "field": field, "rule": rule, "severity": RULE_SEVERITY[rule],
            "message": message or f"[{rule}] " + RULE_MESSAGE_ZH[rule].format(field=field),
            "value": value}




def test_values_are_exact_text_cells(tmp_path: Path) -> None:
    uscc = digit_uscc()
    frame = _licences([{"tyshxydm": uscc, "zzbh": "046010", "xzqdm": "469099",
                        "jd": 110.123456, "wd": 20.000001}])
    wb = _write(tmp_path, load_contract("licenses"), [_failure(3, "XZQDM", "domain", "469099")],
                frame)
    (row,) = _rows(wb["隔离"])
    expected = {"行号": "3", "TYSHXYDM": uscc, "ZZBH": "046010", "XZQDM": "469099",
                "JD": "110.123456", "WD": "20.000001", "CLRQ": "2020-03-04", "DJZT": "存续"}
    for key, value in expected.items():
        cell = row[key]
        assert (cell.value, cell.data_type, cell.number_format) == (value, "s", "@"), key
    assert row["问题"].value == "不在代码表中"
    assert wb["标记"]["A4"].value == "无"


def test_failing_cells_are_highlighted_and_commented(tmp_path: Path) -> None:
    bad = "91110000600037341N"  # DATASETS.md's invalid example: the check character is L
    frame = _licences([{"xzqdm": "469099"}, {"tyshxydm": bad, "zzbh": "Z2"}])
    wb = _write(tmp_path, load_contract("licenses"),
                [_failure(3, "XZQDM", "domain", "469099"), _failure(4, "TYSHXYDM", "uscc_check",
                                                                    bad)], frame)
    (quarantined,) = _rows(wb["隔离"])
    cell = quarantined["XZQDM"]
    assert cell.fill.fgColor.rgb == RED
    assert "460105（秀英区）" in cell.comment.text and "469030（琼中黎族苗族自治县）" in cell.comment.text
    assert quarantined["ZTMC"].fill.fgColor.rgb != RED and quarantined["ZTMC"].comment is None
    (flagged,) = _rows(wb["标记"])
    assert flagged["TYSHXYDM"].fill.fgColor.rgb == YELLOW
    assert "第 18 位校验码应为“L”，现为“N”" in flagged["TYSHXYDM"].comment.text
    assert flagged["编号：证照编号（ZZBH）"].value == "Z2"


@pytest.mark.parametrize(("coords", "counties", "expected"), [
    ((18.35, 109.42), True, "经纬度可能互换：JD=18.35、WD=109.42，把两列对调后（经度 109.42、纬度 18.35）"
                            "正好落在代码所填的 460204（天涯区）内"),
    ((18.35, 109.42), False, "经纬度可能互换"),
    ((437000.0, 2030000.0), False, "坐标像是投影坐标（米）"),
    ((0.0, 0.0), False, "坐标为 (0, 0)"),
    ((121.5, 31.2), True, "坐标（JD=121.5、WD=31.2）不在本行政区范围"),
], ids=["swapped-county", "swapped-extent", "metres", "zero", "elsewhere"])
def test_point_outside_the_region_gets_the_hint_its_defect_calls_for(
        tmp_path: Path, coords: tuple[float, float], counties: bool, expected: str) -> None:
    frame = _licences([{"xzqdm": "460204", "jd": coords[0], "wd": coords[1]}])
    wb = _write(tmp_path, load_contract("licenses"),
                [_failure(3, "geometry", "geometry_in_region")], frame,
                counties=_counties() if counties else None)
    (row,) = _rows(wb["隔离"])
    assert expected in row["原因与修改建议"].value
    assert row["JD"].fill.fgColor.rgb == RED and row["WD"].fill.fgColor.rgb == RED
    if not counties and expected == "经纬度可能互换":
        assert "落在本行政区范围（经度 108.3–111.3" in row["原因与修改建议"].value


def test_duplicate_key_names_the_other_rows(tmp_path: Path) -> None:
    frame = _licences([{"zzbh": "A1"}, {"zzbh": "B2"}, {"zzbh": "A1"}, {"zzbh": "A1"}], start=4)
    wb = _write(tmp_path, load_contract("licenses"),
                [_failure(6, "ZZBH", "key_unique", "A1"), _failure(7, "ZZBH", "key_unique", "A1")],
                frame)
    rows = _rows(wb["隔离"])
    assert [r["行号"].value for r in rows] == ["6", "7"]
    assert "“A1”与第 4 行、第 7 行相同" in rows[0]["原因与修改建议"].value
    assert "“A1”与第 4 行、第 6 行相同" in rows[1]["原因与修改建议"].value


def _parcels(geoms: list[shapely.Geometry], **columns: list[Any]) -> gpd.GeoDataFrame:
    contract = load_contract("farmland_pbf")
    n = len(geoms)
    data: dict[str, Any] = {}
    for f in contract.fields:
        if f.pii:
            data[f"{f.column}_token"] = ["0" * 64] * n
            data[f"{f.column}_masked"] = [None] * n
        else:
            data[f.column] = [None] * n
    data.update(xzqdm=["460105"] * n, yjjbnttbbh=[f"46010500000{i:02d}" for i in range(1, n + 1)],
                dlbm=["0101"] * n, qsdwdm=["4601051002000000000"] * n)
    data.update(columns)
    gdf = gpd.GeoDataFrame(data, geometry=[shapely.MultiPolygon([g]) if g.geom_type == "Polygon"
                                           else g for g in geoms], crs=4490)
    gdf["_source_row"] = range(1, n + 1)
    return gdf


def test_area_hint_states_both_areas_and_the_tolerance(tmp_path: Path) -> None:
    square = shapely.box(110.30, 19.95, 110.301, 19.951)
    true = float(ellipsoidal_area_m2(np.array([square], dtype=object))[0])
    frame = _parcels([square], yjjbnttbmj=[round(true * 1.3, 2)])
    wb = _write(tmp_path, load_contract("farmland_pbf"),
                [_failure(1, "YJJBNTTBMJ", "area_agrees", str(round(true * 1.3, 2)))], frame,
                file="parcels.zip")
    (row,) = _rows(wb["标记"])
    text = row["原因与修改建议"].value
    assert f"填报的永久基本农田图斑面积 {true * 1.3:.2f} 平方米" in text
    assert f"按图形计算的椭球面积（CGCS2000）为 {true:.2f} 平方米，相差 +30.0%，允许误差 ±5%" in text
    assert row["YJJBNTTBMJ"].fill.fgColor.rgb == YELLOW
    assert (row["要素序号"].value, row["FID"].value) == ("1", "0")  # a Shapefile counts from 0


def test_polygon_geometry_hints(tmp_path: Path) -> None:
    bowtie = shapely.Polygon([(110.30, 19.95), (110.31, 19.96), (110.31, 19.95),
                              (110.30, 19.96), (110.30, 19.95)])
    far = shapely.box(116.3, 39.9, 116.31, 39.91)
    frame = _parcels([bowtie, far])
    wb = _write(tmp_path, load_contract("farmland_pbf"),
                [_failure(1, "geometry", "geometry_valid"),
                 _failure(2, "geometry", "geometry_in_region")], frame, file="parcels.gpkg")
    first, second = _rows(wb["隔离"])
    assert "图形无效：边界自相交，位置约经度 110.305000、纬度 19.955000" in \
        first["原因与修改建议"].value
    assert first["图形位置（代表点 经度, 纬度）"].fill.fgColor.rgb == RED
    assert "图形位于经度 116.30500、纬度 39.90500 附近，在本行政区范围" in second["原因与修改建议"].value
    assert (second["要素序号"].value, second["FID"].value) == ("2", "2")  # GeoPackage fid


def test_county_location_names_where_the_parcel_lies(tmp_path: Path) -> None:
    seat = next(c for c in sample_counties() if c.code == "460204").seat
    frame = _parcels([shapely.box(seat[0], seat[1], seat[0] + 0.001, seat[1] + 0.001)],
                     xzqdm=["460203"])
    wb = _write(tmp_path, load_contract("farmland_pbf"),
                [_failure(1, "XZQDM", "county_location", "460203")], frame, counties=_counties())
    (row,) = _rows(wb["标记"])
    assert "图形位于 460204（天涯区），而代码填的是 460203（吉阳区）" in row["原因与修改建议"].value


def test_personal_data_only_masked_never_a_token_or_the_clear_number(tmp_path: Path) -> None:
    clear = "46010519800101123X"
    frame = _parcels([shapely.box(110.3, 19.95, 110.301, 19.951)],
                     zrrzjhm_token=["f" * 64], zrrzjhm_masked=["460105********123X"],
                     zrrmc_token=["e" * 64], zrrmc_masked=["张*"], lxdh_masked=["138****1234"])
    # a failure table that (wrongly) carried the clear number must not leak it either
    wb = _write(tmp_path, load_contract("farmland_pbf"),
                [_failure(1, "ZRRZJHM", "id_card_check", clear)], frame)
    (row,) = _rows(wb["标记"])
    assert row["ZRRZJHM"].value == "460105********123X"
    assert (row["ZRRMC"].value, row["LXDH"].value) == ("张*", "138****1234")
    assert "460105********123X 的第 18 位校验码按 GB 11643 计算不符" in row["原因与修改建议"].value
    text = _all_text(wb)
    assert clear not in text and "f" * 64 not in text and "e" * 64 not in text


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x.invalid\",\"点我\")", "+86 13812341234",
                                  "-1+2", "@SUM(A1)"], ids=["equals", "plus", "minus", "at"])
def test_formula_like_text_stays_text(tmp_path: Path, text: str) -> None:
    frame = _licences([{"ztmc": text, "xzqdm": "469099"}])
    wb = _write(tmp_path, load_contract("licenses"), [_failure(3, "XZQDM", "domain", "469099")],
                frame)
    (row,) = _rows(wb["隔离"])
    cell = row["ZTMC"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (text, "s", True)
    assert row["ZS"].quotePrefix is False


def test_dates_in_order_names_both_times(tmp_path: Path) -> None:
    contract = load_contract("complaints")
    frame = conform_like_complaint()
    wb = _write(tmp_path, contract, [{
        "source_row": 2, "field": "PDSJ≤BJSJ", "rule": "dates_in_order", "severity": "fail",
        "message": "[dates_in_order] 时间顺序错误：PDSJ（派单时间） 晚于 BJSJ（办结时间）",
        "value": "PDSJ=2026-09-21 15:08:56, BJSJ=2026-09-20 10:06:53"}], frame, file="gd.csv")
    (row,) = _rows(wb["隔离"])
    assert row["原因与修改建议"].value.startswith(
        "1. 【时间先后顺序错误｜隔离】时间顺序错误：PDSJ（派单时间） 晚于 BJSJ（办结时间）\n修改建议："
        "PDSJ（派单时间）应早于或等于BJSJ（办结时间），现为 PDSJ=2026-09-21 15:08:56, "
        "BJSJ=2026-09-20 10:06:53")
    assert row["PDSJ"].value == "2026-09-21 15:08:56"
    assert row["PDSJ"].fill.fgColor.rgb == RED and row["BJSJ"].fill.fgColor.rgb == RED
    assert row["SCLXSJ"].fill.fgColor.rgb != RED


def conform_like_complaint() -> gpd.GeoDataFrame:
    contract = load_contract("complaints")
    data: dict[str, Any] = {}
    for f in contract.fields:
        if f.pii:
            data[f"{f.column}_token"], data[f"{f.column}_masked"] = [None], [None]
        else:
            data[f.column] = [None]
    data.update(gdbh=["2026092100019"], gdlx=["投诉"], pdsj=[pd.Timestamp("2026-09-21 15:08:56")],
                bjsj=[pd.Timestamp("2026-09-20 10:06:53")], slsj=[pd.Timestamp("2026-09-21")])
    gdf = gpd.GeoDataFrame(data, geometry=[None], crs=4490)
    gdf["_source_row"] = [2]
    return gdf


def test_whole_file_rejected_before_reading(tmp_path: Path) -> None:
    wb = _write(tmp_path, load_contract("licenses"), [], None, state="rejected", file_reasons=[
        {"rule": "missing_columns", "message": "[missing_columns] 缺少必填列：ZZBH（证照编号）",
         "field": "ZZBH"}])
    summary = [[c for c in r if c is not None] for r in wb["汇总"].iter_rows(values_only=True)]
    assert ["处理结果", "整个文件退回"] in summary
    reason = next(r for r in summary if r and r[0] == "缺少必填列")
    assert reason[1:4] == ["missing_columns", "缺少必填列：ZZBH（证照编号）", "ZZBH"]
    assert "表头可写字段代码或中文名称" in reason[4]
    assert any("一条也没有入库" in r[0] for r in summary if r)
    assert wb["隔离"]["A4"].value == "无" and wb["标记"]["A4"].value == "无"


def test_summary_counts_rows_per_rule_and_says_what_next(tmp_path: Path) -> None:
    frame = _licences([{"xzqdm": "469099"}, {"xzqdm": "469031", "zzbh": "Z2"},
                       {"tyshxydm": "91110000600037341N", "zzbh": "Z3"}])
    failures = [_failure(3, "XZQDM", "domain", "469099"), _failure(4, "XZQDM", "domain", "469031"),
                _failure(5, "TYSHXYDM", "uscc_check", "91110000600037341N")]
    reasons = [{"rule": "too_many_bad_rows",
                "message": "[too_many_bad_rows] 不合格记录占 66.7%，超过本数据集允许的 20%，整个文件退回"}]
    wb = _write(tmp_path, load_contract("licenses"), failures, frame, state="rejected",
                file_reasons=reasons)
    summary = [[c for c in r if c is not None] for r in wb["汇总"].iter_rows(values_only=True)]
    domain = next(r for r in summary if r[:2] == ["不在代码表中", "domain"])
    assert domain[2:5] == ["隔离", "2", "XZQDM（行政区划代码）"] and domain[-1] == "3、4"
    uscc = next(r for r in summary if r[:2] == ["统一社会信用代码校验位错误", "uscc_check"])
    assert uscc[2:4] == ["标记", "1"]
    assert ["隔离记录数（未入库）", "2"] in summary and ["标记记录数（已入库）", "1"] in summary
    too_many = next(r for r in summary if r[:2] == ["不合格记录过多", "too_many_bad_rows"])
    assert "超过本数据集允许的 20%" in too_many[2] and "重新报送整个文件" in too_many[3]
    assert len(_rows(wb["隔离"])) == 2 and len(_rows(wb["标记"])) == 1


def test_sheets_list_up_to_their_limit_and_the_summary_counts_every_row(
        tmp_path: Path) -> None:
    """A file rejected whole for hundreds of thousands of bad rows gets a workbook of bounded
    size: the 隔离 sheet lists the first rows and says where the rest are; the counts are all."""
    rows = [{"xzqdm": "469099", "zzbh": f"Z{i}"} for i in range(7)]
    frame = _licences(rows)
    failures = [_failure(3 + i, "XZQDM", "domain", "469099") for i in range(7)]
    failures.append(_failure(4, "TYSHXYDM", "uscc_check", "x"))  # row 4 also fails above
    wb = _write(tmp_path, load_contract("licenses"), failures, frame, state="rejected",
                sheet_row_limit=3)
    listed = _rows(wb["隔离"])
    assert [r["行号"].value for r in listed] == ["3", "4", "5"]
    assert "共 7 条记录有问题，本表只列出前 3 条" in str(wb["隔离"]["A2"].value)
    assert "rejections.csv" in str(wb["隔离"]["A2"].value)
    summary = [[c for c in r if c is not None] for r in wb["汇总"].iter_rows(values_only=True)]
    assert ["隔离记录数（未入库）", "7"] in summary
    domain = next(r for r in summary if r[:2] == ["不在代码表中", "domain"])
    assert domain[3] == "7" and domain[-1] == "3、4、5、6、7、8、9"
    wide = _write(tmp_path, load_contract("licenses"), failures, frame, state="rejected")
    assert len(_rows(wide["隔离"])) == 7 and "本表只列出" not in str(wide["隔离"]["A2"].value)


# --- row numbers: what `source_row` means per format, checked against real files ---------


def _pipeline(path: Path, dataset: str, tmp_path: Path, counties: gpd.GeoDataFrame | None = None
              ) -> tuple[Any, pd.DataFrame, dict[str, Any]]:
    contract, region = load_contract(dataset), load_region()
    raw = open_delivery(path, contract, tmp_path / f"work-{dataset}")
    conformed = conform(raw, contract, region, KEY)
    outcome = validate_frame(contract, conformed.frame, clear_ids=conformed.clear_ids,
                             counties=counties)
    found = [t for t in (conformed.failures, outcome.failures) if not t.empty]
    failures = pd.concat(found, ignore_index=True) if found else \
        pd.DataFrame(columns=FAILURE_COLUMNS)
    return conformed, failures, conformed.notes


def _answer(path: Path, dataset: str, tmp_path: Path, counties: gpd.GeoDataFrame | None = None,
            feature_ids: dict[int, int] | None = None) -> tuple[openpyxl.Workbook, pd.DataFrame]:
    """The drop answered as the runner would: the landed file's path and the reader's notes
    in `drop` (FIDs read from it), or the FIDs given."""
    conformed, failures, notes = _pipeline(path, dataset, tmp_path, counties)
    out = write_rejection_workbook(
        tmp_path / f"answer-{dataset}.xlsx", contract=load_contract(dataset),
        region=load_region(), drop={"file": path.name, "raw_path": str(path),
                                    "state": "loaded", "notes": notes},
        file_reasons=[], failures=failures, frame=conformed.frame, rule_severity=RULE_SEVERITY,
        rule_message_zh=RULE_MESSAGE_ZH, counties=counties, uscc_check_char=uscc_check_char,
        numbering=row_numbering(path.name, notes, feature_ids) if feature_ids else None)
    return openpyxl.load_workbook(out), failures


def _admin(tmp_path: Path) -> gpd.GeoDataFrame:
    codes = ["460105", "46010X", "460106", "4601O7"]  # two malformed codes (pattern)
    return gpd.GeoDataFrame({"XZQDM": codes, "XZQMC": ["秀英区", "错一", "龙华区", "错二"]},
                            geometry=[shapely.box(110.2 + i / 10, 19.9, 110.25 + i / 10, 19.95)
                                      for i in range(4)], crs=4490)


def test_vector_rows_are_answered_by_position_and_the_fid_qgis_shows(tmp_path: Path) -> None:
    admin = _admin(tmp_path)
    gpkg = tmp_path / "xzq.gpkg"
    admin.to_file(gpkg, layer="XZQ", driver="GPKG")
    with sqlite3.connect(gpkg) as db:  # a clerk deleted the first feature: fids 2, 3, 4 remain
        db.execute("DELETE FROM XZQ WHERE fid = 1")
    ids = read_feature_ids(gpkg, "XZQ")
    assert ids == {1: 2, 2: 3, 3: 4}
    stored = pyogrio.read_dataframe(gpkg, fid_as_index=True)
    for given in (ids, None):  # given by the caller, or read from the drop's landed file
        wb, failures = _answer(gpkg, "admin_divisions", tmp_path, feature_ids=given)
        assert sorted(failures["source_row"]) == [1, 3]  # the reader counts features from 1
        rows = _rows(wb["隔离"])
        assert [(r["要素序号"].value, r["FID"].value) for r in rows] == [("1", "2"), ("3", "4")]
        for row in rows:
            assert stored.loc[int(row["FID"].value), "XZQDM"] == row["XZQDM"].value
    geojson = tmp_path / "xzq.geojson"
    admin.to_file(geojson, driver="GeoJSON")
    wb, _ = _answer(geojson, "admin_divisions", tmp_path)
    stored = pyogrio.read_dataframe(geojson, fid_as_index=True)
    rows = _rows(wb["隔离"])
    assert [(r["要素序号"].value, r["FID"].value) for r in rows] == [("2", "1"), ("4", "3")]
    for row in rows:
        assert stored.loc[int(row["FID"].value), "XZQDM"] == row["XZQDM"].value


def test_spreadsheet_rows_are_the_rows_excel_shows(tmp_path: Path) -> None:
    text = ("证照信息导出\r\n"  # a title line above the header, as exports have
            "统一社会信用代码,主体名称,行政区划代码,经度,纬度,证照类型,证照编号\r\n"
            "91110000600037341L,甲,460105,110.29,20.01,营业执照,A1\r\n"
            "91110000600037341L,乙,469099,110.29,20.01,营业执照,A2\r\n"
            "91110000600037341L,\"丙\n（分店）\",460105,110.29,20.01,营业执照,A3\r\n"
            "91110000600037341L,丁,460199,110.29,20.01,营业执照,A4\r\n")
    path = tmp_path / "zz.csv"
    path.write_bytes(text.encode("gbk"))
    wb, _ = _answer(path, "licenses", tmp_path)
    records = list(csv.reader(io.StringIO(text)))  # as Excel lays them out: record n on row n
    rows = _rows(wb["隔离"])
    assert [r["行号"].value for r in rows] == ["4", "6"]
    for row in rows:
        assert records[int(row["行号"].value) - 1][6] == row["ZZBH"].value
    assert "表头在第 2 行，第一条记录在第 3 行" in wb["隔离"]["A2"].value


# --- the sample data: each planted defect gets the hint it calls for -----------------------


@pytest.fixture(scope="module")
def answers(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, tuple[openpyxl.Workbook, pd.DataFrame]]]:
    tmp = tmp_path_factory.mktemp("answers")
    counties = _counties()
    files = {"licenses": "licenses.xlsx", "farmland_pbf": "farmland_pbf.zip",
             "complaints": "complaints.csv", "farmland_hsf": "farmland_hsf.gpkg"}
    yield {ds: _answer(sample_dir / name, ds, tmp, counties) for ds, name in files.items()}


def _by_rule(wb: openpyxl.Workbook, rule_zh: str) -> list[dict[str, Any]]:
    return [r for sheet in ("隔离", "标记") for r in _rows(wb[sheet])
            if rule_zh in str(r["问题"].value)]


def test_sample_rows_sheets_match_the_manifest(sample_dir: Path, answers: Any) -> None:
    import json

    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    for entry in manifest["files"]:
        if entry["dataset"] not in answers:
            continue
        wb, _ = answers[entry["dataset"]]
        assert len(_rows(wb["隔离"])) == sum(entry["bad_rows"].values()), entry["dataset"]
        assert len(_rows(wb["标记"])) == sum(entry["warn_rows"].values()), entry["dataset"]


def test_sample_swapped_and_zero_coordinates(sample_dir: Path, answers: Any) -> None:
    raw = pd.read_excel(sample_dir / "licenses.xlsx", header=1, dtype=str)
    lon, lat = raw["经度"].astype(float), raw["纬度"].astype(float)
    swapped = int(((lon < 21) & (lat > 108) & (lon > 0)).sum())
    zero = int(((lon == 0) & (lat == 0)).sum())
    rows = _by_rule(answers["licenses"][0], "坐标不在本行政区")
    hints = [r["原因与修改建议"].value for r in rows]
    assert swapped > 0 and zero > 0 and len(rows) == swapped + zero
    assert sum("经纬度可能互换" in h and "正好落在代码所填的" in h for h in hints) == swapped
    assert sum("坐标为 (0, 0)" in h for h in hints) == zero


def test_sample_check_characters(answers: Any) -> None:
    for dataset, code in (("licenses", "TYSHXYDM"), ("complaints", "SJQYXYDM")):
        rows = _by_rule(answers[dataset][0], "统一社会信用代码校验位错误")
        assert rows
        for r in rows:
            value = r[code].value
            assert f"第 18 位校验码应为“{uscc_check_char(value[:17])}”，现为“{value[17]}”" in \
                r["原因与修改建议"].value
    for dataset, code in (("farmland_pbf", "ZRRZJHM"), ("complaints", "LDRZJHM")):
        rows = _by_rule(answers[dataset][0], "身份证号校验位错误")
        assert rows
        for r in rows:
            assert "********" in r[code].value
            assert f"{r[code].value} 的第 18 位校验码按 GB 11643 计算不符" in r["原因与修改建议"].value


def test_sample_parcels(answers: Any, sample_dir: Path) -> None:
    wb, _ = answers["farmland_pbf"]
    parcels = pyogrio.read_dataframe(f"zip://{sample_dir / 'farmland_pbf.zip'}").to_crs(4490)
    area = ellipsoidal_area_m2(parcels.geometry)
    rows = _by_rule(wb, "面积与图形不符")
    assert len(rows) == 12
    for r in rows:
        fid = int(r["FID"].value)
        assert parcels.loc[fid, "YJJBNTTBBH"] == r["YJJBNTTBBH"].value
        assert f"为 {area[fid]:.2f} 平方米" in r["原因与修改建议"].value
    for r in _by_rule(wb, "编号重复"):
        first = int(r["原因与修改建议"].value.split("相同")[0].split("FID ")[-1].rstrip("）"))
        assert first < int(r["FID"].value)
        assert parcels.loc[first, "YJJBNTTBBH"] == r["YJJBNTTBBH"].value
    assert all("允许的值：0101、0102" in r["原因与修改建议"].value for r in _by_rule(wb, "不在代码表中"))
    invalid = _by_rule(wb, "图形或坐标无效")
    assert len(invalid) == 7 and all("边界" in r["原因与修改建议"].value for r in invalid)
    assert all("图形位于 46" in r["原因与修改建议"].value for r in _by_rule(wb, "区划代码与位置不符"))


def test_sample_unknown_codes_and_times(answers: Any) -> None:
    for dataset in ("licenses", "complaints"):
        rows = _by_rule(answers[dataset][0], "不在代码表中")
        assert rows and all("允许的值：460105（秀英区）" in r["原因与修改建议"].value for r in rows)
        assert all(r["XZQDM"].fill.fgColor.rgb == RED for r in rows)
    hsf = _by_rule(answers["farmland_hsf"][0], "不在代码表中")
    assert len(hsf) == 2 and all("允许的值：储备、在建、已验收" in r["原因与修改建议"].value for r in hsf)
    times = _by_rule(answers["complaints"][0], "时间先后顺序错误")
    assert len(times) == 40
    for r in times:
        assert "PDSJ（派单时间）应早于或等于" in r["原因与修改建议"].value
        assert r["PDSJ"].fill.fgColor.rgb == RED
