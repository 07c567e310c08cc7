"""What an upload is comes from its bytes; the name a clerk gave is only a label."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from pipelines.portal.sniff import NotAccepted, label, sniff


def _zip(*names: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in names:
            zf.writestr(n, b"x")
    return buf.getvalue()


GPKG_HEADER = b"SQLite format 3\x00" + b"\x00" * 52 + b"GPKG" + b"\x00" * 28


@pytest.mark.parametrize(("content", "ext"), [
    (_zip("[Content_Types].xml", "xl/workbook.xml"), ".xlsx"),
    (_zip("parcels.shp", "parcels.shx", "parcels.dbf"), ".zip"),
    (GPKG_HEADER, ".gpkg"),
    ("编号,名称\n1,甲\n".encode("gb18030"), ".csv"),
    (b"\xef\xbb\xbf  {\"type\": \"FeatureCollection\", \"features\": []}", ".geojson"),
])
def test_the_content_says_the_format(tmp_path: Path, content: bytes, ext: str) -> None:
    path = tmp_path / "upload.bin"  # the name says nothing
    path.write_bytes(content)
    assert sniff(path) == ext


@pytest.mark.parametrize(("content", "why"), [
    (b"", "文件为空"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "旧版 Excel"),
    (b"\x89PNG\r\n\x1a\n" + bytes(64), "无法识别"),
    (_zip("readme.txt"), "没有 Shapefile"),
    (b"SQLite format 3\x00" + bytes(100), "不是 GeoPackage"),
    (b"PK\x03\x04 not really a zip", "不是有效的 zip"),
])
def test_what_the_pipeline_cannot_read_is_refused_in_chinese(tmp_path: Path, content: bytes,
                                                             why: str) -> None:
    path = tmp_path / "licenses.xlsx"
    path.write_bytes(content)
    with pytest.raises(NotAccepted, match=why):
        sniff(path)


@pytest.mark.parametrize(("given", "shown"), [
    ("../../etc/passwd", "passwd.csv"),
    ("C:\\Users\\张三\\Desktop\\证照 11月.xls", "证照 11月.csv"),
    ("evil\x00\n\x1b[31m.xlsx", "evil[31m.csv"),
    ("..", "上传文件.csv"),
    ("a" * 300 + ".xlsx", "a" * 80 + ".csv"),
])
def test_the_label_is_never_a_path(given: str, shown: str) -> None:
    assert label(given, ".csv") == shown
