"""Write the drop corpus: one folder per case under tests/corpus/files/, every variant and
hostile file the issue lists. What each case must come to is in tests/corpus/expected.yml.

    uv run --frozen python -m tests.corpus.make_corpus [OUT_DIR]

Deterministic: the same code writes the same bytes (tests/unit/test_corpus.py checks that
the checked-in files still match this generator).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.contracts import load_contract
from pipelines.read import gcj02
from tests.corpus import rows
from tests.corpus.writers import (
    shapefile_parts,
    write_csv,
    write_geojson,
    write_gpkg,
    write_shapefile_zip,
    write_xlsx,
    zip_members,
)

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
PBF_LAYER = "YJJBNTBHTB"
# a name GDAL would read as an archive path or URL, and an absolute path inside a zip
ABSOLUTE_MEMBER = "/tmp/yitu-corpus-evil/YJJBNTBHTB.shp"
VERTEX_BOMB_VERTICES = 1_000_100  # just past pipelines.read.row_checks' limit

Case = Callable[[Path], None]
CASES: dict[str, tuple[str, Case]] = {}


def case(name: str, dataset: str) -> Callable[[Case], Case]:
    def register(fn: Case) -> Case:
        CASES[name] = (dataset, fn)
        return fn
    return register


def labels(dataset: str) -> dict[str, str]:
    return {f.code: f.label for f in load_contract(dataset).fields}


# -- admin_divisions: the counties every other case is placed on -----------------------------
@case("admin_gpkg", "admin_divisions")
def _admin(out: Path) -> None:
    write_gpkg(out / "XZQ.gpkg", [("XZQ", rows.admin_frame())])


# -- farmland_pbf: Shapefile encodings and reference systems ---------------------------------
@case("pbf_shp_gbk_no_cpg", "farmland_pbf")
def _pbf_gbk(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460105", 4), out / "YJJBNTBHTB.zip", PBF_LAYER, "GBK")


@case("pbf_shp_utf8_cpg", "farmland_pbf")
def _pbf_utf8(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460106", 4), out / "YJJBNTBHTB.zip", PBF_LAYER,
                        "UTF-8", cpg="UTF-8")


@case("pbf_shp_cpg_936", "farmland_pbf")
def _pbf_936(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460107", 4), out / "YJJBNTBHTB.zip", PBF_LAYER,
                        "GBK", cpg="936")


@case("pbf_shp_gb18030_cpg", "farmland_pbf")
def _pbf_gb18030(out: Path) -> None:
    parcels = rows.pbf_parcels("460108", 4)
    parcels["ZLDWMC"] = "𬌗村"  # U+2C317: GB18030 has it, GBK does not
    write_shapefile_zip(parcels, out / "YJJBNTBHTB.zip", PBF_LAYER, "GB18030", cpg="GB18030")


@case("pbf_shp_gk_zone_prj", "farmland_pbf")
def _pbf_gk_zone(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460202", 4).to_crs(4525), out / "YJJBNTBHTB.zip",
                        PBF_LAYER, "GBK")


@case("pbf_shp_gk_cm_prj", "farmland_pbf")
def _pbf_gk_cm(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460203", 4).to_crs(4546), out / "YJJBNTBHTB.zip",
                        PBF_LAYER, "GBK")


@case("pbf_shp_noprj_gk_zone", "farmland_pbf")
def _pbf_noprj_zone(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460204", 4).to_crs(4524), out / "YJJBNTBHTB.zip",
                        PBF_LAYER, "GBK", prj=False)


@case("pbf_shp_noprj_gk_cm", "farmland_pbf")
def _pbf_noprj_cm(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460205", 4).to_crs(4545), out / "YJJBNTBHTB.zip",
                        PBF_LAYER, "GBK", prj=False)


@case("pbf_shp_noprj_lonlat", "farmland_pbf")
def _pbf_noprj_lonlat(out: Path) -> None:
    write_shapefile_zip(rows.pbf_parcels("460400", 4), out / "YJJBNTBHTB.zip", PBF_LAYER,
                        "GBK", prj=False)


@case("pbf_shp_numeric_codes", "farmland_pbf")
def _pbf_shp_numeric(out: Path) -> None:
    # ArcGIS users often let codes become numeric DBF fields: XZQDM N(24,15), QSXZ N(9,0)
    parcels = rows.pbf_parcels("469021", 5)
    parcels["XZQDM"] = parcels["XZQDM"].astype(float)
    parcels["QSXZ"] = parcels["QSXZ"].astype(int)
    write_shapefile_zip(parcels, out / "YJJBNTBHTB.zip", PBF_LAYER, "GBK")


# -- farmland_pbf: GeoPackage and GeoJSON -----------------------------------------------------
@case("pbf_gpkg_wgs84", "farmland_pbf")
def _pbf_gpkg_wgs84(out: Path) -> None:
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, rows.pbf_parcels("469001", 4).to_crs(4326))])


@case("pbf_gpkg_extra_layers", "farmland_pbf")
def _pbf_gpkg_extra(out: Path) -> None:
    notes = gpd.GeoDataFrame({"ZJ": ["注记"]}, geometry=[shapely.Point(110.47, 19.25)], crs=4490)
    write_gpkg(out / "469002_农田.gpkg", [("XZQ", rows.admin_frame().iloc[:1]),
                                          (PBF_LAYER, rows.pbf_parcels("469002", 4)),
                                          ("ZJ", notes)])


@case("pbf_gpkg_ambiguous_layers", "farmland_pbf")
def _pbf_gpkg_ambiguous(out: Path) -> None:
    write_gpkg(out / "农田成果.gpkg", [("图层1", rows.pbf_parcels("460105", 2)),
                                       ("图层2", rows.pbf_parcels("460106", 2))])


@case("pbf_gpkg_legacy_layer", "farmland_pbf")
def _pbf_gpkg_legacy(out: Path) -> None:
    # TD/T 1019 deliveries: layer JBNTBHTB, fields JBNTTBBH and JBNTMJ
    parcels = rows.pbf_parcels("469005", 4).rename(
        columns={"YJJBNTTBBH": "JBNTTBBH", "YJJBNTTBMJ": "JBNTMJ"})
    write_gpkg(out / "JBNTBHTB.gpkg", [("JBNTBHTB", parcels)])


@case("pbf_gpkg_header_variants", "farmland_pbf")
def _pbf_gpkg_headers(out: Path) -> None:
    parcels = rows.pbf_parcels("469006", 4).rename(columns={
        "XZQDM": "xzqdm", "YJJBNTTBBH": "永久基本农田图斑编号", "DLBM": " DLBM ",
        "YJJBNTTBMJ": "ＹＪＪＢＮＴＴＢＭＪ", "DLMC": "地类　名称", "GDDB": "Gddb",
        "ZRRZJHM": "责任人身份证号", "LXDH": "电话"})
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_gpkg_numeric_codes", "farmland_pbf")
def _pbf_gpkg_numeric(out: Path) -> None:
    # Codes stored as Real/Integer: XZQDM 469007.0, QSXZ 30, DLBM 1006 (fine) and 101 (0101
    # stripped of its leading zero: a damaged code)
    parcels = rows.pbf_parcels("469007", 6)
    parcels["XZQDM"] = parcels["XZQDM"].astype(float)
    parcels["QSXZ"] = parcels["QSXZ"].astype(int)
    parcels["DLBM"] = [1006, 1101, 1103, 1104, 1006, 101]
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_gpkg_codes_lost_digits", "farmland_pbf")
def _pbf_gpkg_lost(out: Path) -> None:
    # 19-digit ZLDWDM stored as Real: a double keeps 15-16 digits, the rest are gone
    parcels = rows.pbf_parcels("469022", 5)
    parcels["ZLDWDM"] = [float(v) + 1234567.0 for v in parcels["ZLDWDM"].astype("int64")]
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_geojson", "farmland_pbf")
def _pbf_geojson(out: Path) -> None:
    write_geojson(rows.pbf_parcels("469023", 4), out / "YJJBNTBHTB.geojson")


@case("pbf_gpkg_unknown_columns", "farmland_pbf")
def _pbf_unknown(out: Path) -> None:
    parcels = rows.pbf_parcels("469024", 4)
    parcels["BZ"] = "备注"
    parcels["TBMJ_OLD"] = 1.0
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_gpkg_missing_required", "farmland_pbf")
def _pbf_missing(out: Path) -> None:
    write_gpkg(out / "YJJBNTBHTB.gpkg",
               [(PBF_LAYER, rows.pbf_parcels("460105", 3).drop(columns=["DLBM"]))])


@case("pbf_gpkg_duplicate_columns", "farmland_pbf")
def _pbf_dup_columns(out: Path) -> None:
    parcels = rows.pbf_parcels("460105", 3)
    parcels["地类编码"] = parcels["DLBM"]
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_gpkg_bad_rows", "farmland_pbf")
def _pbf_bad_rows(out: Path) -> None:
    # 30 parcels; rows 3, 5, 9 and the pair 6/7 break one rule each: 5 of 30 stays under 20 %
    parcels = rows.pbf_parcels("469025", 30)
    x0, y0, x1, y1 = parcels.geometry.iloc[2].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    geoms = list(parcels.geometry.values)
    geoms[2] = bowtie
    parcels = parcels.set_geometry(gpd.GeoSeries(geoms, crs=4490))
    parcels.loc[4, "DLBM"] = "9999"
    parcels.loc[6, "YJJBNTTBBH"] = parcels.loc[5, "YJJBNTTBBH"]
    parcels.loc[8, "GDDB"] = 20
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_gpkg_too_many_bad_rows", "farmland_pbf")
def _pbf_threshold(out: Path) -> None:
    parcels = rows.pbf_parcels("469026", 5)
    parcels.loc[[1, 3], "DLBM"] = "0999"
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_gpkg_pii_values", "farmland_pbf")
def _pbf_pii(out: Path) -> None:
    parcels = rows.pbf_parcels("469030", 4)
    parcels["XZQDM"] = "４６９０３０"  # full-width digits
    parcels["ZRRZJHM"] = [rows.id_number("469030", 4).lower(), rows.id_number("469030", 12)
                          .lower(), " " + rows.id_number("469030", 20), rows.full_width(rows.id_number("469030", 4))]
    parcels["LXDH"] = ["+86 138 0013 8000", "+8613800138001", "0086-13800138002",
                       "１３８００１３８００３"]
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, parcels)])


@case("pbf_corrected_resend", "farmland_pbf")
def _pbf_resend(out: Path) -> None:
    first = rows.pbf_parcels("469029", 5)
    write_gpkg(out / "1_YJJBNTBHTB.gpkg", [(PBF_LAYER, first)])
    corrected = pd.concat([first.iloc[1:], rows.pbf_parcels("469029", 1, first=5)],
                          ignore_index=True)
    corrected.loc[0, "DLBM"], corrected.loc[0, "DLMC"] = "0102", "水浇地"
    write_gpkg(out / "2_YJJBNTBHTB.gpkg", [(PBF_LAYER, gpd.GeoDataFrame(corrected, crs=4490))])


# -- farmland_pbf: hostile ----------------------------------------------------------------------
@case("pbf_gpkg_sql_names", "farmland_pbf")
def _pbf_sql_names(out: Path) -> None:
    parcels = rows.pbf_parcels("469022", 3)
    parcels['x"; DROP TABLE gpkg_contents; --'] = "1"
    write_gpkg(out / "YJJBNTBHTB.gpkg", [('YJJBNTBHTB"; DROP TABLE gpkg_contents; --', parcels)])


@case("pbf_gpkg_hostile_coordinates", "farmland_pbf")
def _pbf_hostile_coords(out: Path) -> None:
    parcels = rows.pbf_parcels("469027", 10)
    geoms = list(parcels.geometry.values)
    ring = shapely.get_coordinates(geoms[1]).copy()
    ring[1, 0] = np.nan
    geoms[1] = shapely.Polygon(ring)
    ring = shapely.get_coordinates(geoms[4]).copy()
    ring[2, 0] = 200.0  # east of the antimeridian: no longitude at all
    geoms[4] = shapely.Polygon(ring)
    write_gpkg(out / "YJJBNTBHTB.gpkg",
               [(PBF_LAYER, parcels.set_geometry(gpd.GeoSeries(geoms, crs=4490)))])


@case("pbf_shp_vertex_bomb", "farmland_pbf")
def _pbf_vertex_bomb(out: Path) -> None:
    parcels = rows.pbf_parcels("469028", 6)
    centre = parcels.geometry.iloc[5].centroid
    t = np.linspace(0.0, 2 * np.pi, VERTEX_BOMB_VERTICES)
    # a 1 km circle on a 0.5 m grid compresses ~120x: under the zip-bomb ratio, so it is the
    # vertex count that must stop it
    q, radius = 5e-6, 0.01
    ring = np.column_stack([np.round((centre.x + radius * np.cos(t)) / q) * q,
                            np.round((centre.y + radius * np.sin(t)) / q) * q])
    geoms = list(parcels.geometry.values)
    geoms[5] = shapely.Polygon(ring)
    write_shapefile_zip(parcels.set_geometry(gpd.GeoSeries(geoms, crs=4490)),
                        out / "YJJBNTBHTB.zip", PBF_LAYER, "GBK")


def _shp_set() -> list[tuple[str, bytes]]:
    return shapefile_parts(rows.pbf_parcels("460105", 2), PBF_LAYER, "GBK")


@case("pbf_zip_dotdot_member", "farmland_pbf")
def _zip_dotdot(out: Path) -> None:
    zip_members(out / "YJJBNTBHTB.zip", [(f"../../{n}", d) for n, d in _shp_set()])


@case("pbf_zip_absolute_member", "farmland_pbf")
def _zip_absolute(out: Path) -> None:
    parts = _shp_set()
    zip_members(out / "YJJBNTBHTB.zip", [(ABSOLUTE_MEMBER, parts[0][1]), *parts[1:]])


@case("pbf_zip_symlink_member", "farmland_pbf")
def _zip_symlink(out: Path) -> None:
    link = zipfile.ZipInfo("YJJBNTBHTB.dbf")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16  # as `zip --symlinks` stores a link
    parts = [p for p in _shp_set() if not p[0].endswith(".dbf")]
    zip_members(out / "YJJBNTBHTB.zip", [*parts, (link, b"/etc/passwd")])


@case("pbf_zip_bomb", "farmland_pbf")
def _zip_bomb(out: Path) -> None:
    parts = _shp_set()
    zip_members(out / "YJJBNTBHTB.zip", [*parts[:2], ("YJJBNTBHTB.dbf", bytes(16 * 1024**2))])


@case("pbf_zip_two_shapefiles", "farmland_pbf")
def _zip_two(out: Path) -> None:
    parts = _shp_set()
    zip_members(out / "YJJBNTBHTB.zip", [*parts, *((f"B{n}", d) for n, d in parts)])


@case("pbf_geojson_crs_link", "farmland_pbf")
def _geojson_link(out: Path) -> None:
    doc = json.loads(rows.pbf_parcels("460105", 2).to_json())
    doc["crs"] = {"type": "link", "properties": {"href": "http://evil.example/crs.json",
                                                 "type": "proj4"}}
    (out / "YJJBNTBHTB.geojson").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


@case("pbf_geojson_vsicurl", "farmland_pbf")
def _geojson_vsicurl(out: Path) -> None:
    doc = json.loads(rows.pbf_parcels("460105", 2).to_json())
    doc["crs"] = {"type": "name", "properties": {"name": "/vsicurl/http://evil.example/x.prj"}}
    (out / "YJJBNTBHTB.geojson").write_text(json.dumps(doc, ensure_ascii=False), "utf-8")


@case("pbf_topojson_named_geojson", "farmland_pbf")
def _topojson(out: Path) -> None:
    # starts with "{" like GeoJSON, but GDAL would pick its TopoJSON driver: not allowed
    topo = {"type": "Topology", "objects": {"YJJBNTBHTB": {"type": "GeometryCollection",
            "geometries": [{"type": "Polygon", "arcs": [[0]], "properties": {"XZQDM": "460105"}}]}},
            "arcs": [[[110.29, 20.01], [110.3, 20.01], [110.3, 20.02], [110.29, 20.01]]]}
    (out / "YJJBNTBHTB.geojson").write_text(json.dumps(topo), "utf-8")


@case("pbf_path_gdal_would_open_remotely", "farmland_pbf")
def _path_bang(out: Path) -> None:
    # "!" is how GDAL addresses a member inside an archive (/vsizip/a.zip!/b.shp)
    # (written by hand: GDAL itself would take the name as an archive path)
    (out / "YJJBNTBHTB.zip!YJJBNTBHTB.geojson").write_text(
        rows.pbf_parcels("460105", 2).to_json(ensure_ascii=False), "utf-8")


@case("pbf_flatgeobuf_not_allowed", "farmland_pbf")
def _fgb(out: Path) -> None:
    import pyogrio

    path = out / "YJJBNTBHTB.fgb"
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(rows.pbf_parcels("460105", 2), path, driver="FlatGeobuf",
                            layer_options={"SPATIAL_INDEX": "NO"})


@case("pbf_sqlite_named_gpkg", "farmland_pbf")
def _sqlite_as_gpkg(out: Path) -> None:
    path = out / "YJJBNTBHTB.gpkg"
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE yjjbntbhtb (xzqdm TEXT, wkt TEXT)")
    con.execute("INSERT INTO yjjbntbhtb VALUES ('460105', 'POINT (110.3 20.0)')")
    con.commit()
    con.close()


@case("pbf_gpkg_truncated", "farmland_pbf")
def _gpkg_truncated(out: Path) -> None:
    # a transfer cut short: the SQLite header is there, most pages are not
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, rows.pbf_parcels("460105", 3))])
    data = (out / "YJJBNTBHTB.gpkg").read_bytes()
    (out / "YJJBNTBHTB.gpkg").write_bytes(data[: len(data) // 3])


@case("pbf_gpkg_no_features", "farmland_pbf")
def _gpkg_empty(out: Path) -> None:
    write_gpkg(out / "YJJBNTBHTB.gpkg", [(PBF_LAYER, rows.pbf_parcels("460105", 1).iloc[:0])])


@case("pbf_zip_zero_bytes", "farmland_pbf")
def _zip_zero(out: Path) -> None:
    (out / "YJJBNTBHTB.zip").write_bytes(b"")


# -- farmland_hsf -------------------------------------------------------------------------------
@case("hsf_gpkg_gk_cm", "farmland_hsf")
def _hsf_gk(out: Path) -> None:
    write_gpkg(out / "GBZNT.gpkg", [("GBZNT", rows.hsf_projects("460105", 3).to_crs(4546))])


@case("hsf_same_file_twice", "farmland_hsf")
def _hsf_twice(out: Path) -> None:
    write_gpkg(out / "GBZNT.gpkg", [("GBZNT", rows.hsf_projects("460106", 2))])


@case("hsf_xlsx_without_geometry", "farmland_hsf")
def _hsf_xlsx(out: Path) -> None:
    projects = pd.DataFrame(rows.hsf_projects("460107", 2).drop(columns="geometry"))
    write_xlsx(out / "高标准农田项目.xlsx", [list(projects.columns),
                                              *projects.itertuples(index=False)])


# -- licenses: XLSX -----------------------------------------------------------------------------
def _licence_table(tag: str, codes: list[str], n: int) -> pd.DataFrame:
    return rows.licenses(tag, rows.border_points(codes, n, gcj=False))


@case("lic_xlsx_title_row", "licenses")
def _lic_title(out: Path) -> None:
    table = _licence_table("A", ["460105", "460106"], 4)
    header = [labels("licenses")[c] for c in table.columns]
    width = f"A1:{chr(64 + len(header))}1"
    write_xlsx(out / "证照信息.xlsx",
               [["海南省市场主体证照信息（2026年11月）"], header,
                *table.astype(object).where(table.notna(), None).itertuples(index=False)],
               merged=[width])


@case("lic_xlsx_merged_two_row_header", "licenses")
def _lic_merged(out: Path) -> None:
    table = _licence_table("B", ["460107"], 3)
    codes = list(table.columns)
    groups = ["主体信息"] * 9 + ["位置"] * 3 + ["证照信息"] * 5
    body = table.astype(object).where(table.notna(), None)
    write_xlsx(out / "证照.xlsx", [groups, codes, *body.itertuples(index=False)],
               merged=["A1:I1", "J1:L1", "M1:Q1"])


@case("lic_xlsx_numeric_cells", "licenses")
def _lic_numeric(out: Path) -> None:
    table = _licence_table("C", ["460108"], 5).astype(object)
    table["XZQDM"] = [int(c) for c in table["XZQDM"]]  # typed as numbers: exact digits
    table["ZZBH"] = [460108202600001 + i for i in range(5)]
    # an all-digit 18-character code that Excel stored as a double: digits lost
    table.loc[3, "TYSHXYDM"] = float(914601080000000123)
    body = table.where(table.notna(), None)
    write_xlsx(out / "证照.xlsx", [list(table.columns), *body.itertuples(index=False)])


@case("lic_xlsx_declared_crs", "licenses")
def _lic_declared(out: Path) -> None:
    table = _licence_table("D", ["460202"], 5)
    table["ZBXT"] = ["WGS84", "CGCS2000", "国家2000", "GCJ-02", "高德"]
    for i in (3, 4):  # declared GCJ-02: the numbers are the shifted ones
        lon, lat = gcj02.wgs84_to_gcj02(float(table.loc[i, "JD"]), float(table.loc[i, "WD"]))
        table.loc[i, "JD"], table.loc[i, "WD"] = round(lon, 6), round(lat, 6)
    write_xlsx(out / "证照.xlsx", [list(table.columns), *table.itertuples(index=False)])


def _xlsx_parts(path: Path, rows_: list[list[object]]) -> list[tuple[str | zipfile.ZipInfo,
                                                                     bytes]]:
    """A small real workbook's zip members, for a case to tamper with."""
    write_xlsx(path, rows_)
    with zipfile.ZipFile(path) as src:
        return [(i.filename, src.read(i)) for i in src.infolist()]


@case("lic_xlsx_external_entity", "licenses")
def _lic_xxe(out: Path) -> None:
    evil = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE sst [<!ENTITY xxe SYSTEM '
            b'"file:///etc/passwd">]>\n')
    parts = [(n, evil + d.split(b"?>", 1)[-1] if n == "xl/worksheets/sheet1.xml" else d)
             for n, d in _xlsx_parts(out / "证照.xlsx", [["ZZBH"], ["&xxe;"]])]
    zip_members(out / "证照.xlsx", parts)


@case("lic_xlsx_zip_bomb", "licenses")
def _lic_bomb(out: Path) -> None:
    parts = _xlsx_parts(out / "证照.xlsx", [["ZZBH"], ["1"]])
    zip_members(out / "证照.xlsx", [*parts, ("xl/media/padding.bin", bytes(16 * 1024**2))])


@case("lic_xlsx_header_only", "licenses")
def _lic_header_only(out: Path) -> None:
    write_xlsx(out / "证照.xlsx", [list(labels("licenses").values())])


# -- licenses: CSV ------------------------------------------------------------------------------
@case("lic_csv_gb18030", "licenses")
def _lic_gb18030(out: Path) -> None:
    table = _licence_table("E", ["469001"], 3)
    table.loc[0, "ZTMC"] = "海南䶮𬌗商贸有限公司"  # outside GBK: only GB18030 encodes it
    write_csv(table, out / "证照.csv", "gb18030")


@case("lic_csv_damaged_codes", "licenses")
def _lic_damaged(out: Path) -> None:
    table = _licence_table("F", ["469002"], 6)
    table.loc[2, "TYSHXYDM"] = "9.14690020000001E+17"  # as Excel shows an 18-digit number
    write_csv(table, out / "证照.csv", "utf-8")


# -- complaints: CSV ----------------------------------------------------------------------------
def _orders(tag: str, codes: list[str], n: int, gcj: bool = True) -> pd.DataFrame:
    return rows.complaints(tag, rows.border_points(codes, n, gcj=gcj))


@case("cmp_csv_utf8_gcj02", "complaints")
def _cmp_utf8(out: Path) -> None:
    write_csv(_orders("GA", ["460105", "460106", "460107"], 6), out / "工单.csv", "utf-8")


@case("cmp_csv_utf8_bom_labels", "complaints")
def _cmp_bom(out: Path) -> None:
    table = _orders("GB", ["469005"], 4)
    table.columns = [labels("complaints")[c] for c in table.columns]
    write_csv(table, out / "工单.csv", "utf-8-sig")


@case("cmp_csv_gbk_cgcs2000", "complaints")
def _cmp_gbk(out: Path) -> None:
    write_csv(_orders("GC", ["469006", "469007"], 6, gcj=False), out / "工单.csv", "gbk")


@case("cmp_csv_title_row", "complaints")
def _cmp_title(out: Path) -> None:
    write_csv(_orders("GD", ["469021"], 4), out / "工单.csv", "gbk",
              title="12345热线工单导出（2026年11月）")


@case("cmp_csv_values", "complaints")
def _cmp_values(out: Path) -> None:
    table = _orders("GE", ["469022"], 4)
    table["XZQDM"] = "４６９０２２"
    table["LDRDH"] = ["+86 139 1234 0000", "+8613912340000", "１３９１２３４０００１", "0898-66123456"]
    caller = next(rows.id_number("469022", n) for n in range(100)
                  if rows.id_number("469022", n).endswith("X"))
    table["LDRZJHM"] = [caller.lower(), caller, rows.full_width(caller),
                        rows.id_number("469022", 5)]
    table["JD"] = [str(v).replace("1", "１") if i == 0 else str(v)
                   for i, v in enumerate(table["JD"])]
    write_csv(table, out / "工单.csv", "utf-8")


@case("cmp_csv_bad_rows", "complaints")
def _cmp_bad(out: Path) -> None:
    # 25 orders; rows 4, 7, 10, 13 and 16 (CSV lines) break one rule each: 5 of 25 is 20 %
    table = _orders("GF", ["469023", "469024"], 25).astype(object)
    table.loc[2, "GDLX"] = "吐槽"  # not in the code list
    table.loc[5, "BJSJ"] = "2026-11-01 08:00:00"  # closed before dispatch
    table.loc[8, "JD"], table.loc[8, "WD"] = 121.47, 31.23  # Shanghai: outside the region
    table.loc[11, "JD"] = "inf"
    table.loc[14, "SLSJ"] = "昨天上午"  # not a time
    write_csv(table, out / "工单.csv", "utf-8")


@case("cmp_csv_missing_required", "complaints")
def _cmp_missing(out: Path) -> None:
    write_csv(_orders("GG", ["469025"], 3).drop(columns=["GDBH", "GDLX"]), out / "工单.csv",
              "utf-8")


@case("cmp_csv_unknown_and_sql_headers", "complaints")
def _cmp_unknown(out: Path) -> None:
    table = _orders("GH", ["469026"], 3)
    table["备注"] = "无"
    table['"; DROP TABLE dq.quarantine; --'] = "x"
    write_csv(table, out / "工单.csv", "utf-8")


@case("cmp_csv_undecodable", "complaints")
def _cmp_undecodable(out: Path) -> None:
    text = _orders("GI", ["469027"], 3).to_csv(index=False, lineterminator="\r\n")
    lines = text.encode("utf-8").split(b"\r\n")
    lines[2] = lines[2] + b"\xff\xfe\xff"  # no UTF-8, GBK or GB18030 sequence
    (out / "工单.csv").write_bytes(b"\r\n".join(lines))


@case("cmp_csv_ragged_row", "complaints")
def _cmp_ragged(out: Path) -> None:
    text = _orders("GK", ["469029"], 3).to_csv(index=False, lineterminator="\r\n")
    lines = text.split("\r\n")
    lines[2] += ",多出来的一列"  # one cell more than the header has
    (out / "工单.csv").write_bytes("\r\n".join(lines).encode("utf-8"))


@case("cmp_csv_header_only", "complaints")
def _cmp_header_only(out: Path) -> None:
    write_csv(_orders("GJ", ["469028"], 3).iloc[:0], out / "工单.csv", "utf-8")


@case("cmp_csv_zero_bytes", "complaints")
def _cmp_zero(out: Path) -> None:
    (out / "工单.csv").write_bytes(b"")


def write_corpus(target: Path = FILES) -> list[Path]:
    """Write every case into target/<case>/; return the files written."""
    if target.exists():
        shutil.rmtree(target)
    written: list[Path] = []
    for name, (_, make) in CASES.items():
        folder = target / name
        folder.mkdir(parents=True)
        make(folder)
        written += sorted(p for p in folder.iterdir() if p.is_file())
    return written


def main(argv: list[str]) -> None:
    target = Path(argv[0]) if argv else FILES
    files = write_corpus(target)
    size = sum(p.stat().st_size for p in files)
    print(f"{len(CASES)} cases, {len(files)} files, {size / 1024:.0f} KiB in {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
