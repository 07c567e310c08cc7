"""Reading what departments send: real files written with GDAL (pyogrio) and pandas."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import Polygon

from pipelines.contracts import load_contract, load_region
from pipelines.read import gcj02
from pipelines.read.conform import conform
from pipelines.read.errors import FileRejected
from pipelines.read.formats import open_delivery

KEY = b"unit-test-key-0123456789"


def _read(path: Path, dataset: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    contract = load_contract(dataset)
    raw = open_delivery(path, contract, tmp_path / "work")
    return conform(raw, contract, load_region(), KEY)


def _complaint_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "ＧＤＢＨ": ["2026110100001", "2026110100002"],
        " 受理时间 ": ["2026-11-01 09:00:00", "2026-11-01 10:00:00"],
        "gdlx": ["投诉", "咨询"],
        "JD": ["", ""], "WD": ["", ""],
        "来电人电话": ["+86 138 1234 5678", "13912345678"],
        "NRMS": ["请回电 13812345678", "无"],
        "XZQDM": ["460105", "460106"],
    })


def test_gbk_csv_with_mixed_headers_maps_and_tokenises(tmp_path: Path) -> None:
    lon, lat = 110.3300, 20.0200  # true position, WGS 84 / CGCS2000
    glon, glat = gcj02.wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    rows = _complaint_rows()
    rows.loc[0, "JD"], rows.loc[0, "WD"] = f"{glon[0]:.7f}", f"{glat[0]:.7f}"
    rows["多余列"] = ["x", "y"]
    path = tmp_path / "complaints.csv"
    rows.to_csv(path, index=False, encoding="gbk")

    result = _read(path, "complaints", tmp_path)
    frame = result.frame
    assert result.notes["encoding"] == "gbk"
    assert result.notes["unknown_columns"] == ["多余列"]  # reported, not silently dropped
    assert list(frame["gdbh"]) == ["2026110100001", "2026110100002"]
    assert list(frame["_source_row"]) == [2, 3]  # as the clerk sees them in Excel
    # GCJ-02 coordinates come back to within a metre of the true point
    p = frame.geometry.iloc[0]
    _, _, dist = Geod(ellps="GRS80").inv(p.x, p.y, lon, lat)
    assert dist < 1.0
    assert frame.geometry.iloc[1] is None  # not geocoded: allowed for work orders
    # personal data: tokens equal for the same phone written two ways, no clear text left
    assert "ldrdh" not in frame.columns
    assert frame["ldrdh_masked"].iloc[0] == "138****5678"
    assert "13812345678" not in frame["nrms"].iloc[0]


def test_undecodable_csv_is_rejected_naming_line_and_offset(tmp_path: Path) -> None:
    path = tmp_path / "complaints.csv"
    path.write_bytes("GDBH,SLSJ,GDLX\n1,2026-11-01,投诉\n".encode() + b"2,\xff\xfe\xfa,x\n")
    with pytest.raises(FileRejected) as err:
        _read(path, "complaints", tmp_path)
    assert err.value.rule == "encoding" and err.value.row == 3
    assert "字节偏移" in err.value.message


def test_missing_required_column_rejects_the_file_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "complaints.csv"
    _complaint_rows().drop(columns=["gdlx"]).to_csv(path, index=False)
    with pytest.raises(FileRejected) as err:
        _read(path, "complaints", tmp_path)
    assert err.value.rule == "missing_columns" and err.value.field == "GDLX"
    assert "工单类型" in err.value.message


def test_header_only_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "complaints.csv"
    _complaint_rows().iloc[0:0].to_csv(path, index=False)
    with pytest.raises(FileRejected) as err:
        _read(path, "complaints", tmp_path)
    assert err.value.rule == "file_empty"


def test_xlsx_with_title_row_finds_its_header(tmp_path: Path) -> None:
    path = tmp_path / "licenses.xlsx"
    table = pd.DataFrame({"统一社会信用代码": ["91110000600037341L"], "主体名称": ["甲公司"],
                          "行政区划代码": ["460105"], "经度": ["110.3"], "纬度": ["20.0"],
                          "证照类型": ["营业执照"], "证照编号": ["Z-1"]})
    with pd.ExcelWriter(path, engine="openpyxl") as xl:
        pd.DataFrame([["海南省市场主体证照信息（2026年11月）"]]).to_excel(
            xl, index=False, header=False)
        table.to_excel(xl, index=False, startrow=1)
    result = _read(path, "licenses", tmp_path)
    assert result.notes["header_row"] == 2
    assert list(result.frame["_source_row"]) == [3]
    assert result.frame["tyshxydm"].iloc[0] == "91110000600037341L"
    assert result.frame.geometry.iloc[0].x == pytest.approx(110.3)


def _parcels_shp(folder: Path, with_prj: bool, crs: int = 4525) -> list[Path]:
    square = Polygon([(0, 0), (100, 0), (100, 100), (0, 100)])
    x0, y0 = 37_500_000 if crs == 4525 else 500_000, 2_200_000
    gdf = gpd.GeoDataFrame({
        "XZQDM": ["460105"], "YJJBNTTBBH": ["4601050000001"], "DLBM": ["0101"],
        "DLMC": ["水田"], "YJJBNTTBMJ": [10000.0],
    }, geometry=[Polygon([(x0 + x, y0 + y) for x, y in square.exterior.coords])], crs=crs)
    shp = folder / "YJJBNTBHTB.shp"
    gdf.to_file(shp, encoding="GBK")
    if not with_prj:
        shp.with_suffix(".prj").unlink()
    shp.with_suffix(".cpg").unlink(missing_ok=True)
    return sorted(folder.glob("YJJBNTBHTB.*"))


@pytest.mark.parametrize("with_prj", [True, False])
def test_zipped_shapefile_gbk_in_gauss_kruger(tmp_path: Path, with_prj: bool) -> None:
    src = tmp_path / "src"
    src.mkdir()
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for member in _parcels_shp(src, with_prj):
            zf.write(member, member.name)
    result = _read(path, "farmland_pbf", tmp_path)
    assert result.notes["encoding"].startswith("GBK")
    assert result.notes["crs"].startswith("EPSG:4525")
    assert ("inferred" in result.notes["crs"]) is (not with_prj)
    assert result.frame.crs.to_epsg() == 4490
    assert result.frame["dlmc"].iloc[0] == "水田"
    assert result.frame.geometry.iloc[0].geom_type == "MultiPolygon"
    assert 110 < result.frame.geometry.iloc[0].centroid.x < 112


def test_zip_member_escaping_the_drop_folder_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("../../etc/evil.shp", b"x")
    with pytest.raises(FileRejected) as err:
        _read(path, "farmland_pbf", tmp_path)
    assert err.value.rule == "zip_member"
    assert not (tmp_path.parent / "etc").exists()


def test_geopackage_with_unexpected_layers_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "hsf.gpkg"
    g = gpd.GeoDataFrame({"XMBH": ["P"]}, geometry=[Polygon([(110, 19), (110.1, 19),
                                                             (110.1, 19.1)])], crs=4490)
    g.to_file(path, layer="a")
    g.to_file(path, layer="b")
    with pytest.raises(FileRejected) as err:
        _read(path, "farmland_hsf", tmp_path)
    assert err.value.rule == "layer"


def test_unsupported_format_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "parcels.dwg"
    path.write_bytes(b"AC1032")
    with pytest.raises(FileRejected) as err:
        _read(path, "farmland_pbf", tmp_path)
    assert err.value.rule == "format"
