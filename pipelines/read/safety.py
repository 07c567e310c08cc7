"""The landing zone is untrusted: checks a dropped file passes before anything parses it.

Zip members (paths, links, bombs), XML parts with DTDs, paths and GeoJSON that point GDAL at
URLs or virtual file systems, and files GDAL would read with a driver we did not ask for.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

import pyogrio
import pyproj

from pipelines.read.errors import FileRejected, display_name, too_large
from pipelines.read.limits import (  # module globals here, so a test may lower one
    COPY_CHUNK_BYTES,
    MAX_RATIO,
    MAX_UNPACKED_BYTES,
    RATIO_CHECKED_FROM_BYTES,
    ZIP_MAX_MEMBERS,
    size_zh,
)

_UTF8_NAMES = 0x800  # general-purpose flag bit 11: the member names are UTF-8
_EOCD, _EOCD64_LOCATOR, _EOCD64 = b"PK\x05\x06", b"PK\x06\x07", b"PK\x06\x06"
_CENTRAL_ENTRY_BYTES = 1024  # a directory entry: 46 bytes and a name, rarely past 300

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
        raise FileRejected("path", f"文件路径 {display_name(path)!r} 含 GDAL 会当作网络地址、压缩包内路径"
                           "或虚拟文件系统的字符（://、!、/vsi），已拒收：请改名后重新报送")
    if path.is_symlink() or not path.is_file():
        raise FileRejected("path", f"{display_name(path)} 不是普通文件（可能是链接或目录），已拒收")


def _declared_members(path: Path) -> tuple[int, int]:
    """(members, central directory bytes) as the end-of-central-directory record (or its
    zip64 twin) declares them: read before zipfile builds one object per member. By hand,
    since zipfile reads this record only as part of reading the whole directory."""
    with open(path, "rb") as f:
        size = f.seek(0, 2)
        f.seek(max(0, size - 22 - 0xFFFF))  # the record, and a comment of at most 64 KiB
        tail = f.read()
        at = tail.rfind(_EOCD)
        if at < 0 or len(tail) < at + 22:
            return 0, 0  # not a zip: zipfile says so next
        count, directory = struct.unpack_from("<HI", tail, at + 10)
        locator = tail.rfind(_EOCD64_LOCATOR, 0, at)
        if (count == 0xFFFF or directory == 0xFFFFFFFF) and 0 <= locator <= len(tail) - 20:
            f.seek(struct.unpack_from("<Q", tail, locator + 8)[0])
            record = f.read(56)
            if record[:4] == _EOCD64 and len(record) == 56:
                count, directory = struct.unpack_from("<QQ", record, 32)
    return count, directory


def _open_checked(path: Path, name: str) -> zipfile.ZipFile:
    count, directory = _declared_members(path)
    if count > ZIP_MAX_MEMBERS or directory > ZIP_MAX_MEMBERS * _CENTRAL_ENTRY_BYTES:
        raise too_large(name, f"含 {count} 个文件" if count > ZIP_MAX_MEMBERS else
                        f"的文件目录有 {size_zh(directory)}", f"每个压缩包 {ZIP_MAX_MEMBERS} 个文件",
                        advice="压缩包中只放一套 Shapefile（同名的 .shp、.shx、.dbf、.prj、.cpg）")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FileRejected("unreadable", f"{name} 不是有效的 zip 压缩文件") from exc
    if len(zf.infolist()) > ZIP_MAX_MEMBERS:
        zf.close()
        raise too_large(name, f"含 {len(zf.infolist())} 个文件", f"每个压缩包 {ZIP_MAX_MEMBERS} 个文件",
                        advice="压缩包中只放一套 Shapefile（同名的 .shp、.shx、.dbf、.prj、.cpg）")
    if any(not i.flag_bits & _UTF8_NAMES and not i.filename.isascii() for i in zf.infolist()):
        # Chinese Windows zips names in GBK without saying so; zipfile assumes code page 437
        try:
            legacy = zipfile.ZipFile(path, metadata_encoding="gb18030")
        except (UnicodeDecodeError, zipfile.BadZipFile):
            return zf
        zf.close()
        return legacy
    return zf


@contextmanager
def open_zip(path: Path, name: str | None = None) -> Iterator[zipfile.ZipFile]:
    """Open a zip (also XLSX) after checking its declared sizes against the bomb limits."""
    name = name or display_name(path)
    with _open_checked(path, name) as zf:
        total = 0
        for info in zf.infolist():
            total += info.file_size
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size >= RATIO_CHECKED_FROM_BYTES and ratio > MAX_RATIO:
                raise FileRejected("zip_bomb", f"{name} 中的 {info.filename!r} 压缩比 {ratio:.0f} "
                                   f"超过上限 {MAX_RATIO}，疑似压缩炸弹，已拒收")
        if total > MAX_UNPACKED_BYTES:
            raise FileRejected("zip_bomb", f"{name} 解压后共 {size_zh(total)}，超过上限 "
                               f"{size_zh(MAX_UNPACKED_BYTES)}，已拒收")
        yield zf


def _member_name_unsafe(info: zipfile.ZipInfo) -> bool:
    name = info.filename.replace("\\", "/")
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    drive = re.match(r"^[A-Za-z]:", name) is not None
    return is_link or drive or name.startswith("/") or ".." in PurePosixPath(name).parts


def check_zip(path: Path, name: str | None = None) -> None:
    """What a zip's central directory declares, checked without unpacking anything: the
    bomb limits (`open_zip`) and every member's path (`_check_members`)."""
    name = name or display_name(path)
    with open_zip(path, name) as zf:
        _check_members(zf, name)


def _check_members(zf: zipfile.ZipFile, name: str) -> None:
    for info in zf.infolist():
        if _member_name_unsafe(info):
            raise FileRejected("zip_member", f"{name} 中的成员 {info.filename!r} 是链接、"
                               "绝对路径或含 ..，路径不安全，已拒收")


def extract_zip(path: Path, workdir: Path, name: str | None = None) -> list[Path]:
    """Unpack into `workdir` only, flattened to bare file names, counting the real bytes."""
    name = name or display_name(path)
    with open_zip(path, name) as zf:
        infos = zf.infolist()
        _check_members(zf, name)
        workdir.mkdir(parents=True, exist_ok=True)
        out: list[Path] = []
        seen: set[str] = set()  # a set: a list made unpacking quadratic in the member count
        written = 0
        for info in infos:
            if info.is_dir():
                continue
            target = workdir / PurePosixPath(info.filename.replace("\\", "/")).name
            if target.name in seen:
                raise FileRejected("zip_member", f"{name} 中有同名文件 {target.name!r}")
            seen.add(target.name)
            # "xb": never follow or overwrite anything already at the target.
            with zf.open(info) as src, open(target, "xb") as dst:
                while chunk := src.read(COPY_CHUNK_BYTES):
                    written += len(chunk)
                    if written > MAX_UNPACKED_BYTES:
                        raise FileRejected("zip_bomb", f"{name} 实际解压超过 "
                                           f"{size_zh(MAX_UNPACKED_BYTES)}，已拒收")
                    dst.write(chunk)
            out.append(target)
        return out


def reject_xml_dtd(zf: zipfile.ZipFile, name: str) -> None:
    """An XLSX part with a DTD or entity is refused before calamine sees it (its XML parser
    expands no entity: the second line): OOXML never needs one, and entities are how XXE and
    billion-laughs work."""
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


def check_vector_content(path: Path, suffix: str, name: str | None = None) -> str:
    """The driver this file must be read with, after its first bytes say it is that format."""
    name = name or display_name(path)
    driver = ALLOWED_DRIVERS[suffix]
    with open(path, "rb") as f:
        raw = f.read(100)
    head = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(_MAGIC[driver]):
        raise FileRejected("format", f"{name} 的内容不是 {driver} 格式，已拒收")
    if driver == "GPKG" and raw[68:72] not in _GPKG_APPLICATION_IDS:
        # any SQLite database starts like a GeoPackage; GDAL would open it with another driver
        raise FileRejected("format", f"{name} 是 SQLite 数据库但不是 GeoPackage（缺少 GeoPackage "
                           "标识），已拒收：请用 GIS 软件导出为 GeoPackage 后重新报送")
    if driver == "GeoJSON":
        _scan_geojson(path, name)
    return driver


def _scan_geojson(path: Path, name: str) -> None:
    tail = b""
    with open(path, "rb") as f:
        while chunk := f.read(COPY_CHUNK_BYTES):
            if _GEOJSON_REMOTE.search(tail + chunk):
                raise FileRejected("remote_reference", f"{name} 引用了网络地址或 GDAL 虚拟文件系统"
                                   "（如 crs 链接、/vsicurl/），已拒收")
            tail = chunk[-64:]


def check_driver(name: str, expected: str, reported: str) -> None:
    if reported != expected:
        raise FileRejected("format", f"{name} 被识别为 {reported} 格式，只接受 {expected}")
