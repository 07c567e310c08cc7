"""The landing zone is untrusted: checks a dropped file passes before anything parses it.

Zip members (paths, links, bombs), XML parts with DTDs, paths and GeoJSON that point GDAL at
URLs or virtual file systems, and files GDAL would read with a driver we did not ask for.
"""

from __future__ import annotations

import re
import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pyogrio
import pyproj

from pipelines.read.errors import FileRejected

# A zip may unpack to at most this much in total, and a large member may not be compressed
# more than MAX_RATIO times: real Shapefile parts compress 5-50x, bombs 1000x and more.
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_RATIO = 200
RATIO_CHECKED_FROM_BYTES = 8 * 1024**2  # small parts (an all-blank .dbf) may compress far
COPY_CHUNK_BYTES = 1024**2

# The only GDAL drivers a department's file may be read with, by file suffix.
ALLOWED_DRIVERS: dict[str, str] = {
    ".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON", ".shp": "ESRI Shapefile",
}
_MAGIC: dict[str, tuple[bytes, ...]] = {
    "GPKG": (b"SQLite format 3\x00",),
    "GeoJSON": (b"{",),
    "ESRI Shapefile": (b"\x00\x00\x27\x0a",),
}
# SQLite header application_id (bytes 68-71) of GeoPackage 1.2+ and of 1.0/1.1 files
_GPKG_APPLICATION_IDS = (b"GPKG", b"GP10", b"GP11")
# GDAL turns these into network or archive reads: a local path never contains them.
_VSI_OR_URL = re.compile(r"^/vsi|/vsi[a-z0-9_]+/|://|!", re.IGNORECASE)
_GEOJSON_REMOTE = re.compile(rb"/vsi[a-z0-9_]*/|\"href\"\s*:|\"type\"\s*:\s*\"(?:link|url)\"",
                             re.IGNORECASE)
_XML_DTD = (b"<!DOCTYPE", b"<!ENTITY")


# Second line of defence behind the path and content checks: if a crafted file still makes
# GDAL reach for the network, every request fails at once. GDAL has no single off switch:
# /vsicurl/ and its kin see only files with this (never used) extension, and plain HTTP
# fetches (GeoJSON, WFS, ...) go through a proxy on the discard port that refuses them.
GDAL_NETWORK_OFF = {
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".yitu-no-network",
    "GDAL_HTTP_PROXY": "127.0.0.1:9",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_HTTP_TIMEOUT": "1",
}


def disable_gdal_network() -> None:
    """For this process: no GDAL read reaches the network, nor PROJ's grid downloads."""
    pyogrio.set_gdal_config_options(GDAL_NETWORK_OFF)
    pyproj.network.set_network_enabled(False)  # type: ignore[attr-defined]  # not in pyproj's stubs' exports


def check_local_path(path: Path) -> None:
    """The drop must be a plain local file: no URL, no /vsi prefix, no link."""
    if _VSI_OR_URL.search(str(path)):
        raise FileRejected("path", f"文件路径 {path.name!r} 含 GDAL 会当作网络地址、压缩包内路径或"
                           "虚拟文件系统的字符（://、!、/vsi），已拒收：请改名后重新报送")
    if path.is_symlink() or not path.is_file():
        raise FileRejected("path", f"{path.name} 不是普通文件（可能是链接或目录），已拒收")


@contextmanager
def open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """Open a zip (also XLSX) after checking its declared sizes against the bomb limits."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRejected("unreadable", f"{path.name} 不是有效的 zip 压缩文件") from exc
    with zf:
        total = 0
        for info in zf.infolist():
            total += info.file_size
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size >= RATIO_CHECKED_FROM_BYTES and ratio > MAX_RATIO:
                raise FileRejected("zip_bomb", f"{path.name} 中的 {info.filename!r} 压缩比 {ratio:.0f} "
                                   f"超过上限 {MAX_RATIO}，疑似压缩炸弹，已拒收")
        if total > MAX_UNPACKED_BYTES:
            raise FileRejected("zip_bomb", f"{path.name} 解压后共 {total} 字节，超过上限 "
                               f"{MAX_UNPACKED_BYTES} 字节，已拒收")
        yield zf


def _member_name_unsafe(info: zipfile.ZipInfo) -> bool:
    name = info.filename.replace("\\", "/")
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    drive = re.match(r"^[A-Za-z]:", name) is not None
    return is_link or drive or name.startswith("/") or ".." in PurePosixPath(name).parts


def extract_zip(path: Path, workdir: Path) -> list[Path]:
    """Unpack into `workdir` only, flattened to bare file names, counting the real bytes."""
    with open_zip(path) as zf:
        infos = zf.infolist()
        for info in infos:
            if _member_name_unsafe(info):
                raise FileRejected("zip_member", f"{path.name} 中的成员 {info.filename!r} 是链接、"
                                   "绝对路径或含 ..，路径不安全，已拒收")
        workdir.mkdir(parents=True, exist_ok=True)
        out: list[Path] = []
        written = 0
        for info in infos:
            if info.is_dir():
                continue
            target = workdir / PurePosixPath(info.filename.replace("\\", "/")).name
            if target in out:
                raise FileRejected("zip_member", f"{path.name} 中有同名文件 {target.name!r}")
            # "xb": never follow or overwrite anything already at the target.
            with zf.open(info) as src, open(target, "xb") as dst:
                while chunk := src.read(COPY_CHUNK_BYTES):
                    written += len(chunk)
                    if written > MAX_UNPACKED_BYTES:
                        raise FileRejected("zip_bomb", f"{path.name} 实际解压超过 "
                                           f"{MAX_UNPACKED_BYTES} 字节，已拒收")
                    dst.write(chunk)
            out.append(target)
        return out


def reject_xml_dtd(zf: zipfile.ZipFile, name: str) -> None:
    """An XLSX part with a DTD or entity is refused before openpyxl sees it (defusedxml is
    the second line): OOXML never needs one, and entities are how XXE and billion-laughs work."""
    patterns = [p.decode().encode(enc) for p in _XML_DTD for enc in ("utf-8", "utf-16-le",
                                                                      "utf-16-be")]
    keep = max(len(p) for p in patterns)
    for info in zf.infolist():
        if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
            continue
        tail = b""
        with zf.open(info) as part:
            while chunk := part.read(COPY_CHUNK_BYTES):
                window = tail + chunk
                if any(p in window for p in patterns):
                    raise FileRejected("xml_dtd", f"{name} 的 {info.filename} 含 DTD 或实体声明"
                                       "（可能读取外部文件），已拒收：请用 Excel 另存为 .xlsx 后重新报送")
                tail = window[-keep:]


def check_vector_content(path: Path, suffix: str) -> str:
    """The driver this file must be read with, after its first bytes say it is that format."""
    driver = ALLOWED_DRIVERS[suffix]
    with open(path, "rb") as f:
        raw = f.read(100)
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(_MAGIC[driver]):
        raise FileRejected("format", f"{path.name} 的内容不是 {driver} 格式，已拒收")
    if driver == "GPKG" and raw[68:72] not in _GPKG_APPLICATION_IDS:
        # any SQLite database starts like a GeoPackage; GDAL would open it with another driver
        raise FileRejected("format", f"{path.name} 是 SQLite 数据库但不是 GeoPackage（缺少 GeoPackage "
                           "标识），已拒收：请用 GIS 软件导出为 GeoPackage 后重新报送")
    if driver == "GeoJSON":
        _scan_geojson(path)
    return driver


def _scan_geojson(path: Path) -> None:
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK_BYTES):
            if _GEOJSON_REMOTE.search(tail + chunk):
                raise FileRejected("remote_reference", f"{path.name} 引用了网络地址或 GDAL 虚拟文件系统"
                                   "（如 crs 链接、/vsicurl/），已拒收")
            tail = chunk[-64:]


def check_driver(path: Path, expected: str, reported: str) -> None:
    if reported != expected:
        raise FileRejected("format", f"{path.name} 被识别为 {reported} 格式，只接受 {expected}")
