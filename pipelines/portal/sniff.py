"""What an upload is, decided from its bytes: never from its name or the browser's Content-Type.

The portal then stores it with the extension of the format found, so the reader (which picks
its parser by extension) reads it as what it is. A format the pipeline does not read is refused
here, at once, with the reason in Chinese.
"""

from __future__ import annotations

import unicodedata
import zipfile
from pathlib import Path

from pipelines.read import safety
from pipelines.read.errors import FileRejected

# extension -> what a clerk calls it
FORMATS: dict[str, str] = {".xlsx": "Excel 工作簿（.xlsx，可用模板）", ".csv": "CSV 文本（UTF-8 或 GBK）",
                           ".gpkg": "GeoPackage（.gpkg）", ".zip": "Shapefile（zip 压缩包）",
                           ".geojson": "GeoJSON"}
TABULAR = (".xlsx", ".csv")  # for datasets located by coordinate columns
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 (.xls), old Word
HEAD_BYTES = 64 * 1024
LABEL_CHARS = 80


class NotAccepted(Exception):
    """The upload is not a format the pipeline reads; the message is for the clerk."""


def sniff(path: Path) -> str:
    """The extension the file's content says it has (one of FORMATS)."""
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    if not head:
        raise NotAccepted("文件为空，请选择要报送的文件")
    if head.startswith(b"PK\x03\x04"):
        return _zip_kind(path)
    if head.startswith(b"SQLite format 3\x00"):
        try:
            safety.check_vector_content(path, ".gpkg", "上传的文件")
        except FileRejected as exc:
            raise NotAccepted(exc.message) from exc
        return ".gpkg"
    if head.startswith(_OLE2):
        raise NotAccepted("这是旧版 Excel（.xls）文件：请在 Excel/WPS 中另存为 .xlsx 工作簿后再上传")
    if b"\x00" in head:
        raise NotAccepted("无法识别的文件格式：请上传 " + "、".join(FORMATS.values()))
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return ".geojson" if text.startswith(b"{") else ".csv"


def _zip_kind(path: Path) -> str:
    try:
        with safety.open_zip(path, "上传的文件") as zf:
            names = [i.filename.lower() for i in zf.infolist()]
    except FileRejected as exc:
        raise NotAccepted(exc.message) from exc
    except zipfile.BadZipFile as exc:
        raise NotAccepted("压缩包已损坏，无法打开：请重新导出后上传") from exc
    if "[content_types].xml" in names and any(n.startswith("xl/") for n in names):
        return ".xlsx"
    if any(n.endswith(".shp") for n in names):
        return ".zip"
    raise NotAccepted("压缩包中既不是 Excel 工作簿也没有 Shapefile（.shp）：请上传 "
                      + "、".join(FORMATS.values()))


def label(filename: str, ext: str) -> str:
    """The name the clerk gave, for display and the ledger only (never a path): its last path
    part, printable characters, shortened, with the extension of the format found."""
    base = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    stem = "".join(c for c in base if c.isprintable()).strip(". ")
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    return f"{stem[:LABEL_CHARS] or '上传文件'}{ext}"
