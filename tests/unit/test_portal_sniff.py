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


def test_a_zip_bomb_is_refused_from_its_declared_sizes(tmp_path: Path) -> None:
    # 64 MiB of zeros in a 64 KiB upload: refused by the reader's bomb limits before anything
    # is unpacked (the portal sniffs with the pipeline's own safety.open_zip)
    path = tmp_path / "licenses.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", b"<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", bytes(64 * 1024**2))
    assert path.stat().st_size < 1024**2
    with pytest.raises(NotAccepted, match="压缩炸弹"):
        sniff(path)


def test_text_with_binary_after_the_sniffed_head_goes_to_the_csv_reader(tmp_path: Path) -> None:
    # the oddest file accepted: 64 KiB of text, then anything. Sniffing reads the head only
    # (HEAD_BYTES); the rest is the CSV reader's to refuse, under its own limits
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"a,b\n" * (64 * 1024 // 4) + bytes(range(256)) * 64)
    assert sniff(path) == ".csv"


@pytest.mark.parametrize(("given", "shown"), [
    ("../../etc/passwd", "passwd.csv"),
    ("C:\\Users\\张三\\Desktop\\证照 11月.xls", "证照 11月.csv"),
    ("evil\x00\n\x1b[31m.xlsx", "evil[31m.csv"),
    ("..", "上传文件.csv"),
    ("a" * 300 + ".xlsx", "a" * 80 + ".csv"),
])
def test_the_label_is_never_a_path(given: str, shown: str) -> None:
    assert label(given, ".csv") == shown
