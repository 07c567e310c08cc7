"""Hostile and broken drops: each is answered with a rule id and a Chinese reason, nothing is
written outside the drop's work folder, and no network or virtual file system is touched."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from defusedxml import EntitiesForbidden
from shapely.geometry import Point, Polygon

from pipelines.contracts import load_contract, load_region
from pipelines.read import row_checks, safety
from pipelines.read.conform import Conformed, conform
from pipelines.read.errors import FileRejected
from pipelines.read.formats import open_delivery

KEY = b"unit-test-key-0123456789"
SQUARE = [(110.30, 20.00), (110.31, 20.00), (110.31, 20.01), (110.30, 20.01)]


def _read(path: Path, dataset: str, tmp_path: Path) -> Conformed:
    contract = load_contract(dataset)
    raw = open_delivery(path, contract, tmp_path / "work")
    return conform(raw, contract, load_region(), KEY)


def _rejected(path: Path, dataset: str, tmp_path: Path) -> FileRejected:
    with pytest.raises(FileRejected) as err:
        _read(path, dataset, tmp_path)
    assert err.value.message and any("\u4e00" <= ch <= "\u9fff" for ch in err.value.message)
    return err.value


def _parcels(geoms: list[object]) -> gpd.GeoDataFrame:
    n = len(geoms)
    return gpd.GeoDataFrame({
        "XZQDM": ["460105"] * n, "YJJBNTTBBH": [f"46010500000{i:02d}" for i in range(n)],
        "DLBM": ["0101"] * n, "YJJBNTTBMJ": [1000.0] * n,
    }, geometry=geoms, crs=4490)


@pytest.mark.parametrize("member", ["../../etc/evil.shp", "/tmp/evil.shp", "C:\\evil\\a.shp",
                                    "C:evil.shp", "dir\\..\\..\\evil.shp", "link.shp"])
def test_unsafe_zip_members_are_rejected(tmp_path: Path, member: str) -> None:
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo(member)
        if member == "link.shp":  # a symlink to outside, as `zip --symlinks` stores it
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        else:
            zf.writestr(info, b"x")
    before = set(tmp_path.parent.iterdir())
    err = _rejected(path, "farmland_pbf", tmp_path)
    assert err.rule == "zip_member"
    assert not (tmp_path / "work").exists()  # rejected before anything was unpacked
    assert set(tmp_path.parent.iterdir()) == before


def test_zip_bomb_by_ratio_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("YJJBNTBHTB.dbf", b"\0" * (2 * safety.RATIO_CHECKED_FROM_BYTES))
    assert path.stat().st_size * safety.MAX_RATIO < 2 * safety.RATIO_CHECKED_FROM_BYTES
    err = _rejected(path, "farmland_pbf", tmp_path)
    assert err.rule == "zip_bomb" and "压缩比" in err.message
    assert not (tmp_path / "work").exists()


def _declared_smaller(path: Path, member: str, declared: int) -> None:
    """`member`'s uncompressed size rewritten to `declared` in the zip's central directory
    and local header (its data and CRC as they were): a zip that lies about what it holds."""
    data = bytearray(path.read_bytes())
    # (signature, offset of the uncompressed size, of the name's length, of the name)
    for sig, size_at, length_at, name_at in ((b"PK\x01\x02", 24, 28, 46),
                                              (b"PK\x03\x04", 22, 26, 30)):
        at = data.find(sig)
        while at >= 0:
            length = int.from_bytes(data[at + length_at:at + length_at + 2], "little")
            if data[at + name_at:at + name_at + length] == member.encode():
                data[at + size_at:at + size_at + 4] = declared.to_bytes(4, "little")
            at = data.find(sig, at + 4)
    path.write_bytes(bytes(data))


def test_a_zip_lying_about_its_sizes_is_unreadable_in_the_child(tmp_path: Path) -> None:
    """A zipped Shapefile whose .dbf declares 100 bytes and holds more passes every check of
    what the zip declares (`safety.check_zip`, here); the reading child, unpacking it, reads
    no byte past the declared size and finds the data's CRC wrong: the file is answered
    unreadable in Chinese, the run goes on, nothing is written outside the work folder."""
    parts = tmp_path / "parts"
    parts.mkdir()
    _parcels([Polygon(SQUARE)] * 3).to_file(parts / "YJJBNTBHTB.shp")
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in sorted(parts.iterdir()):
            zf.write(part, part.name)
    real = zipfile.ZipFile(path).getinfo("YJJBNTBHTB.dbf").file_size
    _declared_smaller(path, "YJJBNTBHTB.dbf", 100)
    assert zipfile.ZipFile(path).getinfo("YJJBNTBHTB.dbf").file_size == 100 < real
    safety.check_zip(path)  # what it declares is within every limit
    before = set(tmp_path.iterdir())
    err = _rejected(path, "farmland_pbf", tmp_path)
    assert err.rule == "unreadable" and "Bad CRC-32" in (err.detail or "")
    assert set(tmp_path.iterdir()) - before == {tmp_path / "work"}
    assert {p.name for p in (tmp_path / "work").iterdir()} <= {
        "YJJBNTBHTB.shp", "YJJBNTBHTB.shx", "YJJBNTBHTB.prj", "YJJBNTBHTB.cpg",
        "YJJBNTBHTB.dbf"}


def test_zip_bomb_by_total_size_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "MAX_UNPACKED_BYTES", 10_000)
    path = tmp_path / "farmland_pbf.zip"
    with zipfile.ZipFile(path, "w") as zf:  # stored, not compressed: only the total is wrong
        zf.writestr("a.shp", np.random.default_rng(0).bytes(6_000))
        zf.writestr("a.dbf", np.random.default_rng(1).bytes(6_000))
    err = _rejected(path, "farmland_pbf", tmp_path)
    assert err.rule == "zip_bomb" and "超过上限" in err.message


def _xlsx_with_entity(tmp_path: Path) -> Path:
    plain = tmp_path / "plain.xlsx"
    pd.DataFrame({"TYSHXYDM": ["91110000600037341L"], "ZTMC": ["甲"]}).to_excel(plain, index=False)
    path = tmp_path / "licenses.xlsx"
    doctype = b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, sep, rest = data.partition(b"?>") if data.startswith(b"<?xml") \
                    else (b"", b"", data)
                data = head + sep + doctype + rest
            dst.writestr(info, data)
    return path


def test_xlsx_with_external_entity_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = _xlsx_with_entity(tmp_path)
    err = _rejected(path, "licenses", tmp_path)
    assert err.rule == "xml_dtd"


def test_openpyxl_parses_through_defusedxml(tmp_path: Path) -> None:
    # The second line of defence: openpyxl itself refuses the entity, it never resolves it.
    assert openpyxl.DEFUSEDXML is True
    with pytest.raises(ValueError) as err:
        openpyxl.load_workbook(_xlsx_with_entity(tmp_path))
    assert isinstance(err.value.__context__, EntitiesForbidden)


def _geojson(tmp_path: Path, extra: dict[str, object], name: str = "hsf.geojson") -> Path:
    doc = {"type": "FeatureCollection", **extra, "features": [{
        "type": "Feature", "properties": {"XMBH": "P1"},
        "geometry": {"type": "Polygon", "coordinates": [[*map(list, SQUARE), list(SQUARE[0])]]}}]}
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("extra", [
    {"crs": {"type": "link", "properties": {"href": "http://127.0.0.1:9/crs", "type": "proj4"}}},
    {"crs": {"type": "name", "properties": {"name": "/vsicurl/http://127.0.0.1:9/x"}}},
    {"name": "/vsizip//tmp/other.zip/a.shp"},
])
def test_geojson_pointing_at_urls_or_virtual_files_is_rejected(tmp_path: Path,
                                                               extra: dict[str, object]) -> None:
    err = _rejected(_geojson(tmp_path, extra), "farmland_hsf", tmp_path)
    assert err.rule == "remote_reference"


@pytest.mark.parametrize("name", ["x!y.geojson", "http:__x.geojson"])
def test_paths_gdal_would_treat_as_archives_or_urls_are_rejected(tmp_path: Path, name: str) -> None:
    path = _geojson(tmp_path, {}, name)
    contract = load_contract("farmland_hsf")
    with pytest.raises(FileRejected) as err:
        open_delivery(Path(str(path).replace("http:__", "http://")) if "http" in name else path,
                      contract, tmp_path / "work")
    assert err.value.rule == "path"


def test_file_whose_driver_is_not_the_one_its_name_says_is_rejected(tmp_path: Path) -> None:
    vrt = tmp_path / "hsf.geojson"  # a VRT would make GDAL open another source
    vrt.write_text('<OGRVRTDataSource><OGRVRTLayer name="a"><SrcDataSource>'
                   "/vsicurl/http://127.0.0.1:9/x.shp</SrcDataSource></OGRVRTLayer>"
                   "</OGRVRTDataSource>")
    assert _rejected(vrt, "farmland_hsf", tmp_path).rule == "format"
    fake_gpkg = tmp_path / "hsf.gpkg"
    fake_gpkg.write_bytes(_geojson(tmp_path, {}).read_bytes())
    assert _rejected(fake_gpkg, "farmland_hsf", tmp_path).rule == "format"


def test_driver_gdal_reports_must_be_on_the_allowlist(tmp_path: Path) -> None:
    path = tmp_path / "hsf.gpkg"  # a plain SQLite database passes the magic bytes, not GDAL
    import sqlite3
    with sqlite3.connect(path) as db:
        db.execute("create table t (a text)")
    err = _rejected(path, "farmland_hsf", tmp_path)
    assert err.rule in ("format", "unreadable")


def test_non_finite_coordinates_are_a_row_failure(tmp_path: Path) -> None:
    path = tmp_path / "parcels.gpkg"
    inf_square = [SQUARE[0], (np.inf, 20.0), *SQUARE[1:]]
    nan_square = [SQUARE[0], (110.305, np.nan), *SQUARE[1:]]
    _parcels([Polygon(SQUARE), Polygon(inf_square), Polygon(nan_square),
              Polygon([(x + 400, y) for x, y in SQUARE])]).to_file(path, layer="YJJBNTBHTB")
    result = _read(path, "farmland_pbf", tmp_path)
    bad = result.failures[result.failures["rule"] == "geometry_valid"]
    assert sorted(bad["source_row"]) == [2, 3, 4]
    assert "inf/NaN" in bad["message"].iloc[0]
    assert result.frame.geometry.iloc[0] is not None and result.frame.geometry.iloc[1] is None


def test_feature_with_absurd_vertex_count_is_a_row_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(row_checks, "MAX_VERTICES_PER_FEATURE", 500)
    circle = Point(110.3, 20.0).buffer(0.01, quad_segs=200)  # 801 vertices
    path = tmp_path / "parcels.gpkg"
    _parcels([Polygon(SQUARE), circle]).to_file(path, layer="YJJBNTBHTB")
    result = _read(path, "farmland_pbf", tmp_path)
    assert shapely.get_num_coordinates(circle) > 500
    bad = result.failures[result.failures["rule"] == "geometry_valid"]
    assert list(bad["source_row"]) == [2] and "顶点数超过上限" in bad["message"].iloc[0]


@pytest.mark.parametrize("name", ["a.zip", "a.gpkg", "a.geojson", "a.csv", "a.xlsx"])
def test_zero_byte_files_are_rejected(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    assert _rejected(path, "farmland_pbf", tmp_path).rule == "file_empty"


def test_header_only_xlsx_and_featureless_geopackage_are_rejected(tmp_path: Path) -> None:
    xlsx = tmp_path / "licenses.xlsx"
    pd.DataFrame(columns=["TYSHXYDM", "ZTMC", "XZQDM", "ZZLX", "ZZBH"]).to_excel(xlsx, index=False)
    assert _rejected(xlsx, "licenses", tmp_path).rule == "file_empty"
    gpkg = tmp_path / "parcels.gpkg"
    _parcels([Polygon(SQUARE)]).iloc[0:0].to_file(gpkg, layer="YJJBNTBHTB")
    assert _rejected(gpkg, "farmland_pbf", tmp_path).rule == "file_empty"


_NETWORK_PROBE = """
import http.server, json, sys, threading
import pyogrio
from pipelines.read import safety

hits = []
body = json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature",
    "properties": {"XZQDM": "460105"}, "geometry": {"type": "Point", "coordinates": [110.3, 20.0]}}]})

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())
    do_HEAD = do_GET
    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/parcels.geojson"
before = len(pyogrio.read_dataframe(url))  # GDAL can reach it: the probe works
seen = len(hits)
safety.disable_gdal_network()
refused = []
for path in (url, "/vsicurl/" + url):
    try:
        pyogrio.read_dataframe(path)
    except Exception:
        refused.append(path)
print(json.dumps({"before": before, "seen": seen, "after": len(hits), "refused": len(refused)}))
"""


def test_gdal_reaches_no_network_once_the_reader_has_started() -> None:
    """The second line of defence: even a URL handed straight to GDAL is not fetched."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _NETWORK_PROBE], capture_output=True,
                          text=True, timeout=120, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == 1 and result["seen"] >= 1
    assert result["refused"] == 2 and result["after"] == result["seen"]
