"""Hostile and broken CSV and XLSX deliveries (writers registered in make_hostile)."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import xlsxwriter

from tests.corpus import rows
from tests.corpus.writers import EXPORT_TIME, write_csv, write_xlsx, zip_members

CALLER = ("王小明", "13912345678", "460105198001011234")  # must reach no stored reason


def orders(n: int, tag: str = "H") -> pd.DataFrame:
    points = rows.border_points(["460105", "460106"], min(n, 30), gcj=True)
    table = rows.complaints(tag, points)
    if n > len(table):  # more orders than border points: repeat them under new keys
        table = pd.concat([table] * (n // len(table) + 1), ignore_index=True).iloc[:n]
        table["GDBH"] = [f"{tag}{i:06d}" for i in range(n)]
    return table


def orders_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False, lineterminator="\r\n", na_rep="").encode("utf-8")


# -- CSV -------------------------------------------------------------------------------------
def csv_nul_byte(path: Path) -> None:
    """Two work orders whose keys differ only after a NUL: cut at the NUL, both were `NA`."""
    table = orders(6)
    table.loc[1, "GDBH"] = "NA\x00001"
    table.loc[3, "GDBH"] = "NA\x00002"
    table.loc[4, "NRMS"] = "描述\x00后半段"
    path.write_bytes(orders_csv(table))


def _multiline(n: int) -> pd.DataFrame:
    table = orders(n)
    table["NRMS"] = [f"第一段：反映噪音{i}。\r\n第二段：来电人要求回复。\n\"引号\"也在里面" for i in range(n)]
    return table


def csv_multiline_small(path: Path) -> None:
    path.write_bytes(orders_csv(_multiline(5)))


def csv_multiline_large(path: Path) -> None:
    """Quoted 内容描述 spanning lines, the file well past pyarrow's 1 MiB block."""
    path.write_bytes(orders_csv(_multiline(6000)))


def csv_line_200mb(path: Path) -> None:
    table = orders(3)
    with open(path, "wb") as f:
        f.write(orders_csv(table.iloc[:1]))
        f.write(b"X" * (200 * 1024**2) + b"\r\n")
        f.write(orders_csv(table.iloc[1:]).split(b"\r\n", 1)[1])


def csv_long_line_within_limit(path: Path) -> None:
    table = orders(3)
    table.loc[1, "NRMS"] = "长" * 300_000  # 900 KB of UTF-8 on one line, under the 1 MiB limit
    path.write_bytes(orders_csv(table))


def csv_ragged_with_caller(path: Path) -> None:
    """A row one cell too wide whose cells hold a caller's name, phone and ID number."""
    lines = orders_csv(orders(4)).decode().split("\r\n")
    lines[2] += f",{CALLER[0]}来电{CALLER[1]}证件{CALLER[2]}"
    path.write_bytes("\r\n".join(lines).encode("utf-8"))


def csv_unclosed_quote(path: Path) -> None:
    lines = orders_csv(orders(4)).decode().split("\r\n")
    lines[2] = lines[2].replace(",", ',"未闭合的引号 ' + CALLER[1], 1)
    path.write_bytes("\r\n".join(lines).encode("utf-8"))


def csv_gbk_multiline(path: Path) -> None:
    write_csv(_multiline(4), path, "gbk")


def csv_undecodable(path: Path) -> None:
    path.write_bytes(orders_csv(orders(3)) + b"\xff\xfe\xfa\xfb\xfc,\x80\x80\r\n")


def csv_many_columns(path: Path) -> None:
    header = ",".join(["GDBH", "GDLX", *(f"X{i}" for i in range(600))])
    path.write_bytes((header + "\r\n" + ",".join(["A1", "投诉", *["1"] * 600]) + "\r\n").encode())


def csv_blank_lines(path: Path) -> None:
    path.write_bytes(b"\r\n\r\n\r\n")


def csv_bom_only(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf")


def csv_random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(7).bytes(4096))


def csv_header_with_nul(path: Path) -> None:
    text = orders_csv(orders(3)).decode().replace("GDBH", "GD\x00BH", 1)
    path.write_bytes(text.encode())


def csv_too_many_rows(path: Path) -> None:
    """Just past the row limit: short rows, so the file stays small."""
    with open(path, "wb") as f:
        f.write(b"GDBH,GDLX\r\n")
        block = b"".join(b"A%07d,\xe6\x8a\x95\xe8\xaf\x89\r\n" % i for i in range(100_000))
        for _ in range(21):  # 2.1 million rows
            f.write(block)


def csv_named_xlsx(path: Path) -> None:
    path.write_bytes(orders_csv(orders(2)))


def csv_semicolons_and_formulas(path: Path) -> None:
    """Cells that a spreadsheet would run (=cmd|…) stay inert text, and load."""
    table = orders(3)
    table.loc[0, "NRMS"] = "=cmd|' /C calc'!A0"
    table.loc[1, "SQDZ"] = "@SUM(1+1);-2+3"
    path.write_bytes(orders_csv(table))


# -- XLSX ------------------------------------------------------------------------------------
def _licence_rows(n: int) -> list[list[object]]:
    table = rows.licenses("L", rows.border_points(["460105"], n, gcj=False)).astype(object)
    return [list(table.columns), *table.where(table.notna(), None).values.tolist()]


def _parts(rows_: list[list[object]]) -> dict[str, bytes]:
    """A real workbook's zip members as Excel lays them out (shared strings; xlsxwriter, its
    clock pinned), for a case to tamper with."""
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True})
    wb.set_properties({"created": dt.datetime(*EXPORT_TIME)})
    ws = wb.add_worksheet("Sheet1")
    for r, row in enumerate(rows_):
        ws.write_row(r, 0, row)
    wb.close()
    with zipfile.ZipFile(buf) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _write_parts(path: Path, parts: dict[str, bytes]) -> None:
    zip_members(path, list(parts.items()))


SHEET = "xl/worksheets/sheet1.xml"


def _sheet_data(parts: dict[str, bytes], cells: bytes) -> None:
    data = b"<sheetData>" + cells.replace(b"\\", b"\\\\") + b"</sheetData>"
    parts[SHEET] = re.sub(rb"<sheetData>.*</sheetData>|<sheetData/>", data, parts[SHEET], flags=re.S)


def xlsx_only_far_cell(path: Path) -> None:
    parts = _parts([["x"]])
    _sheet_data(parts, b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>')
    parts[SHEET] = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="XFD1048576"/>', parts[SHEET])
    _write_parts(path, parts)


def xlsx_far_corners(path: Path) -> None:
    """A header at A1 and one cell at XFD1048576: two cells, 17 billion slots."""
    parts = _parts(_licence_rows(2))
    far = b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
    parts[SHEET] = parts[SHEET].replace(b"</sheetData>", far + b"</sheetData>")
    _write_parts(path, parts)


def _patch_declared_size(path: Path, member: str, size: int) -> None:
    """Make the zip directory declare `size` uncompressed bytes for `member`."""
    data = bytearray(path.read_bytes())
    at = data.rfind(b"PK\x01\x02")  # central directory entries, last to first
    while at >= 0:
        if data[at + 46:at + 46 + struct.unpack_from("<H", data, at + 28)[0]] == member.encode():
            struct.pack_into("<I", data, at + 24, size)
        at = data.rfind(b"PK\x01\x02", 0, at)
    path.write_bytes(bytes(data))


def _noise(n: int) -> bytes:
    """Text that hardly compresses, so a declared size stays under the bomb ratio."""
    return base64.b64encode(np.random.default_rng(n).bytes(n * 3 // 4))


def xlsx_sheet_declared_huge(path: Path) -> None:
    """A sheet the zip directory declares at 1.1 GB, compressed ~180x: within the bomb limits."""
    parts = _parts(_licence_rows(3))
    parts[SHEET] = parts[SHEET].replace(b"</worksheet>", b"<!--" + _noise(8_000_000) + b"-->"
                                        + b"</worksheet>")
    _write_parts(path, parts)
    _patch_declared_size(path, SHEET, 1_100_000_000)


def xlsx_too_many_cells(path: Path) -> None:
    """6.2 million empty positioned cells: a ~10 MB file whose sheet inflates to ~100 MB."""
    parts = _parts(_licence_rows(1))
    cols = [f"{a}{b}" for a in "ABC" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"][:62]
    row = b'<row r="#">' + b"".join(b'<c r="%s#"/>' % c.encode() for c in cols) + b"</row>"
    _sheet_data(parts, b"".join(row.replace(b"#", b"%d" % r) for r in range(2, 100_002)))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in parts.items():
            zf.writestr(zipfile.ZipInfo(name, EXPORT_TIME), data, zipfile.ZIP_DEFLATED, 1)


def xlsx_broken_shared_strings(path: Path) -> None:
    parts = _parts(_licence_rows(3))
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"][:300] + b"<si><t>broken"
    _write_parts(path, parts)


def xlsx_shared_strings_declared_huge(path: Path) -> None:
    parts = _parts(_licence_rows(3))
    strings = "xl/sharedStrings.xml"
    parts[strings] = parts[strings].replace(b"</sst>", b"<!--" + _noise(2_000_000) + b"--></sst>")
    _write_parts(path, parts)
    _patch_declared_size(path, strings, 250_000_000)


def xlsx_many_columns(path: Path) -> None:
    header, *body = _licence_rows(2)
    _write_parts(path, _parts([header + [f"X{i}" for i in range(600)],
                               *[r + ["1"] * 600 for r in body]]))


def xlsx_dtd_in_shared_strings(path: Path) -> None:
    parts = _parts(_licence_rows(2))
    parts["xl/sharedStrings.xml"] = parts["xl/sharedStrings.xml"].replace(
        b"?>", b'?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>', 1)
    assert b"<!DOCTYPE" in parts["xl/sharedStrings.xml"]
    _write_parts(path, parts)


def xlsx_not_a_zip(path: Path) -> None:
    path.write_bytes(b"PK\x03\x04" + np.random.default_rng(3).bytes(2048))


def xlsx_empty_sheet(path: Path) -> None:
    _write_parts(path, _parts([]))


def xlsx_cells_without_positions(path: Path) -> None:
    """Cells and rows with no r attribute (some generators omit it): positions implied, so
    such a generator writes every cell of a row, the empty ones too."""
    header, *body = _licence_rows(3)
    for row in body:
        row[header.index("ZBXT")] = "CGCS2000"
    parts = _parts([header, *body])
    parts[SHEET] = re.sub(rb'<(c|row) r="[A-Z]*[0-9]+"', rb"<\1", parts[SHEET])
    _write_parts(path, parts)


def xlsx_nul_escape_in_cell(path: Path) -> None:
    """OOXML writes a NUL as _x0000_; the reader turns it back into one."""
    header, *body = _licence_rows(3)
    body[1][header.index("ZZBH")] = "ZZ\x0001"  # xlsxwriter writes it as ZZ_x0000_01
    _write_parts(path, _parts([header, *body]))


def xlsx_merge_everything(path: Path) -> None:
    parts = _parts(_licence_rows(3))
    parts[SHEET] = parts[SHEET].replace(
        b"</sheetData>", b'</sheetData><mergeCells count="1"><mergeCell ref="A1:XFD1048576"/></mergeCells>')
    _write_parts(path, parts)


def xlsx_many_merges(path: Path) -> None:
    """20 000 one-row merges below the data: the header and rows still read."""
    parts = _parts(_licence_rows(3))
    merges = b"".join(b'<mergeCell ref="A%d:B%d"/>' % (r, r) for r in range(10, 20_010))
    parts[SHEET] = parts[SHEET].replace(
        b"</sheetData>", b'</sheetData><mergeCells count="20000">' + merges + b"</mergeCells>")
    _write_parts(path, parts)


def xlsx_title_and_numbers(path: Path) -> None:
    """A good file (merged title row, codes typed as numbers): the harness's control."""
    header, *body = _licence_rows(3)
    for row in body:
        row[header.index("XZQDM")] = int(str(row[header.index("XZQDM")]))
    write_xlsx(path, [["海南省证照信息"], header, *body], merged=["A1:E1"])
