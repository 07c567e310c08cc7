"""The parts of an XLSX package that decide how much its first sheet costs to read.

Which zip member is the first worksheet (workbook.xml and its relationships), how large that
member and the shared strings are declared to be, and what a streaming pass over the sheet's
XML finds (cells, area): all before calamine allocates anything.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass

from defusedxml import ElementTree

from pipelines.read import limits, scan
from pipelines.read.errors import FileRejected, library_detail, too_large

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_SMALL_PART_BYTES = 16 * limits.MIB  # workbook.xml and .rels: a few KB in real workbooks


@dataclass(frozen=True)
class Sheet:
    title: str
    part: str | None  # the zip member holding its XML; None where the package hides it
    others: list[str]


def _small_xml(zf: zipfile.ZipFile, part: str, name: str) -> ElementTree.Element | None:
    try:
        info = zf.getinfo(part)
    except KeyError:
        return None
    if info.file_size > _SMALL_PART_BYTES:
        raise too_large(name, f"的 {part} 有 {limits.size_zh(info.file_size)}",
                        f"工作簿结构部件 {limits.size_zh(_SMALL_PART_BYTES)}")
    try:
        return ElementTree.fromstring(zf.read(info))
    except Exception as exc:  # defusedxml's or expat's words: engineers' log only
        raise FileRejected("unreadable", f"无法读取 Excel 文件 {name}：工作簿内部的 {part} 已损坏，"
                           "请用 Excel 或 WPS 打开后另存为 .xlsx 重新报送",
                           detail=library_detail(exc)) from exc


def _targets(zf: zipfile.ZipFile, rels_part: str, base: str, name: str) -> dict[str, str]:
    rels = _small_xml(zf, rels_part, name)
    if rels is None:
        return {}
    return {r.get("Id", ""): posixpath.normpath(
        r.get("Target", "").lstrip("/") if r.get("Target", "").startswith("/")
        else posixpath.join(base, r.get("Target", ""))) for r in rels.iter(f"{_PKG_REL}Relationship")}


def first_sheet(zf: zipfile.ZipFile, titles: list[str], worksheet_titles: list[str],
                name: str) -> Sheet:
    """The first worksheet (chart sheets skipped) and the member holding its XML."""
    if not worksheet_titles:
        raise FileRejected("missing_columns", f"{name} 中没有工作表")
    title = worksheet_titles[0]
    others = [t for t in titles if t != title]
    workbook = _targets(zf, "_rels/.rels", "", name)
    book_part = next((p for p in workbook.values() if p.endswith(".xml") and "workbook" in p),
                     "xl/workbook.xml")
    book = _small_xml(zf, book_part, name)
    base = posixpath.dirname(book_part)
    rels = _targets(zf, posixpath.join(base, "_rels", posixpath.basename(book_part) + ".rels"),
                    base, name)
    for sheet in book.iter(f"{_MAIN}sheet") if book is not None else ():
        if sheet.get("name") == title:
            return Sheet(title, rels.get(sheet.get(f"{_REL}id", "")), others)
    return Sheet(title, None, others)


def check_declared_sizes(zf: zipfile.ZipFile, name: str) -> None:
    """What the zip directory declares for the sheets and the shared strings (zipfile refuses
    a member longer than declared): read before any part is."""
    for info in zf.infolist():
        part = info.filename.lower()
        if part.endswith("sharedstrings.xml") and \
                info.file_size > limits.XLSX_MAX_SHARED_STRINGS_BYTES:
            raise too_large(name, f"的共享字符串表有 {limits.size_zh(info.file_size)}",
                            f"{limits.size_zh(limits.XLSX_MAX_SHARED_STRINGS_BYTES)}")
        if part.startswith("xl/worksheets/") and info.file_size > limits.XLSX_MAX_SHEET_XML_BYTES:
            raise too_large(name, f"的工作表解压后有 {limits.size_zh(info.file_size)}",
                            f"每个工作表 {limits.size_zh(limits.XLSX_MAX_SHEET_XML_BYTES)}")


def measure(zf: zipfile.ZipFile, sheet: Sheet, name: str) -> scan.SheetScan:
    """The cells the sheet's XML holds, and the area between its first and last."""
    check_declared_sizes(zf, name)
    parts = [sheet.part] if sheet.part in zf.namelist() else [
        n for n in zf.namelist() if n.startswith("xl/worksheets/") and n.endswith(".xml")]
    found = []  # one sheet; every sheet where the package does not say which is the first
    for part in sorted(parts):
        with zf.open(part) as f:
            found.append(scan.scan_sheet(scan.chunks(f), limits.XLSX_MAX_CELLS))
        _check_dimensions(found[-1], name)
    return found[0] if found else scan.SheetScan()


def _check_dimensions(found: scan.SheetScan, name: str) -> None:
    if found.cells > limits.XLSX_MAX_CELLS:
        raise too_large(name, f"的工作表有 {found.cells} 个单元格", f"{limits.XLSX_MAX_CELLS} 个单元格")
    if found.width > limits.MAX_COLUMNS:
        raise too_large(name, f"的工作表从第 {found.columns[0]} 列到第 {found.columns[1]} 列",
                        f"{limits.MAX_COLUMNS} 列")
    if found.height > limits.MAX_ROWS:
        raise too_large(name, f"的工作表从第 {found.rows[0]} 行到第 {found.rows[1]} 行",
                        f"{limits.MAX_ROWS} 行")
    if found.height * found.width > limits.XLSX_MAX_CELLS:
        raise too_large(name, f"的工作表范围为 {found.height} 行 × {found.width} 列",
                        f"{limits.XLSX_MAX_CELLS} 个单元格")

