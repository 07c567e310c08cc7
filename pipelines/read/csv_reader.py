"""Read a CSV the way departments export it: UTF-8 (with or without BOM), GBK or GB18030, a
title line above the header at times, quoted fields that span lines (a work order's 内容描述).

Every cell stays text; empty cells are null. pyarrow parses (in C++, ~3x pandas on all-text
columns), told that quoted values may hold newlines so that a record is never cut at a block
boundary, whatever the file's size. Lines, fields and rows are held to `limits` first.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from pipelines.contracts import Contract
from pipelines.read import frames, limits, scan
from pipelines.read.delivery import RawDelivery
from pipelines.read.errors import FileRejected, library_detail, too_large
from pipelines.read.spreadsheet import HEADER_SEARCH_ROWS, find_header

# Tried in this order: GB18030 is a superset of GBK, so a file GBK reads is GBK.
LEGACY_ENCODINGS = ("gbk", "gb18030")
CSV_HEAD_BYTES = 1 << 20  # where the header is looked for: far more than 16 lines


def _bad_utf8_at(body: memoryview) -> int | None:
    """Where the first byte that is not UTF-8 is, checked chunk by chunk (no second copy)."""
    at = 0
    while at < len(body):
        end = at + scan.CHUNK
        try:
            _, used = codecs.utf_8_decode(body[at:end], "strict", end >= len(body))
        except UnicodeDecodeError as exc:
            return at + exc.start
        at += used or len(body)
    return None


def _transcode(body: memoryview, encoding: str) -> bytearray | None:
    """The file re-encoded as UTF-8 for pyarrow, or None where `encoding` cannot read it."""
    decoder = codecs.getincrementaldecoder(encoding)()
    out = bytearray()
    try:
        for at in range(0, len(body), scan.CHUNK):
            out += decoder.decode(body[at:at + scan.CHUNK]).encode("utf-8")
        out += decoder.decode(b"", final=True).encode("utf-8")
    except UnicodeDecodeError:
        return None
    return out


def _as_utf8(data: pa.Buffer, name: str) -> tuple[pa.Buffer, str, str]:
    """(the text as UTF-8, the codec that read it, its name as the clerk would say it).
    UTF-8 stays the file's own mapped pages; only a GBK/GB18030 file is copied, re-encoded."""
    bom = data[:3].to_pybytes() == codecs.BOM_UTF8
    body = memoryview(data)[3 if bom else 0:]
    bad = _bad_utf8_at(body)
    if bad is None:
        return data[3 if bom else 0:], "utf-8-sig", "UTF-8 with BOM" if bom else "UTF-8"
    for encoding in LEGACY_ENCODINGS:
        text = _transcode(body, encoding)
        if text is not None:
            return pa.py_buffer(text), encoding, encoding.upper()
    offset = bad + (3 if bom else 0)
    line = data[:offset].to_pybytes().count(b"\n") + 1
    raise FileRejected("encoding", f"{name} 的编码无法识别（UTF-8/GBK/GB18030 均不符）："
                       f"第 {line} 行，字节偏移 {offset}", row=line)


def _header(text: pa.Buffer, contract: Contract, name: str) -> tuple[int, list[str]]:
    """0-based record of the header and its cells: a title line above it is common in exports
    from Excel. Without a recognisable header the first line is taken (and the missing
    columns named)."""
    head = text[:CSV_HEAD_BYTES].to_pybytes().decode("utf-8", errors="ignore")
    try:
        with _field_limit():
            records = list(itertools.islice(csv.reader(io.StringIO(head)),
                                            HEADER_SEARCH_ROWS + 1))
    except csv.Error as exc:  # only "field larger than field limit" can happen here
        raise too_large(name, "表头附近有超长的单元格",
                        f"每个单元格 {limits.CSV_MAX_FIELD_CHARS} 个字符",
                        detail=library_detail(exc)) from exc
    found = find_header([[c or None for c in r] for r in records], contract.header_map()) or 0
    return found, records[found] if records else []


def _unique(header: list[str]) -> list[str]:
    """Column names as pandas gives them: a blank one `Unnamed: i`, a repeat `NAME.1`, which the
    contract mapping then reports as unknown (never silently merged)."""
    seen: dict[str, int] = {}
    out = []
    for i, h in enumerate(header):
        h = h if h.strip() else f"Unnamed: {i}"
        n = seen.get(h, 0)
        seen[h] = n + 1
        out.append(f"{h}.{n}" if n else h)
    return out


def _parse(text: pa.Buffer, header_at: int, width: int, name: str) -> pa.Table:
    names = [f"c{i}" for i in range(width)]
    ragged: list[int] = []

    def invalid(row: Any) -> str:
        ragged.append(int(row.actual_columns))
        return "error"

    try:
        return pacsv.read_csv(
            pa.BufferReader(text),
            read_options=pacsv.ReadOptions(skip_rows=header_at + 1, column_names=names,
                                           block_size=limits.CSV_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(newlines_in_values=True,
                                             invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                 strings_can_be_null=True))
    except pa.ArrowInvalid as exc:  # pyarrow's words quote the row: engineers' log only
        line = _first_ragged_line(text, header_at, width) if ragged else None
        where = f"：第 {line} 行有 {ragged[0]} 列，表头有 {width} 列" if line else ""
        raise FileRejected("unreadable", f"{name} 的表格结构有误（列数与表头不符或引号未闭合）{where}"
                           "：请用 Excel/WPS 打开核对该行后另存为 CSV 重新报送", row=line,
                           detail=library_detail(exc)) from exc


@contextmanager
def _field_limit() -> Iterator[None]:
    """Python's csv module held to our cell limit (its default is 131072) while it reads."""
    before = csv.field_size_limit(limits.CSV_MAX_FIELD_CHARS)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _excel_records(text: pa.Buffer) -> Iterator[tuple[int, list[str]]]:
    """The text's records, each with the row Excel/WPS shows it on: a blank line is an empty
    record and a row of its own; a quoted cell spanning lines stays in one row. Raises
    csv.Error; read it within `_field_limit`."""
    stream = io.TextIOWrapper(io.BytesIO(memoryview(text)), encoding="utf-8", newline="")
    for i, record in enumerate(csv.reader(stream)):
        yield i + 1, record


def _first_ragged_line(text: pa.Buffer, header_at: int, width: int) -> int | None:
    """The row (as Excel numbers it) of the first record whose cell count is not the
    header's; only looked for once pyarrow has refused the file."""
    try:
        with _field_limit():
            return next((row for row, record in _excel_records(text)
                         if row > header_at + 1 and record and len(record) != width), None)
    except csv.Error:
        return None


def _check_sizes(table: pa.Table, header: list[str], header_at: int, name: str) -> None:
    if table.num_rows > limits.MAX_ROWS:
        raise too_large(name, f"有 {table.num_rows} 行", f"{limits.MAX_ROWS} 行")
    for i, column in enumerate(table.columns):
        lengths = pc.utf8_length(column)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limits.CSV_MAX_FIELD_CHARS:
            row = header_at + 2 + int(pc.index(pc.greater(lengths, limits.CSV_MAX_FIELD_CHARS),
                                               True).as_py())
            raise too_large(name, f"第 {row} 行 {header[i]} 列的值有 {longest} 个字符",
                            f"每个单元格 {limits.CSV_MAX_FIELD_CHARS} 个字符", row=row,
                            field=header[i])


def _excel_rows(text: pa.Buffer, header_at: int, count: int) -> list[int]:
    """The row Excel/WPS shows each data record on. A record whose quoted cell spans lines is
    still one row there, and a blank line is a row of its own, which the parser skips: with
    no blank line after the header, data record i is row header_at + i + 2; otherwise the
    records are counted once more with Python's csv module (a blank line is an empty record
    there), only for such files."""
    plain = list(range(header_at + 2, header_at + count + 2))
    body = memoryview(text)
    if not scan.has_blank_line(body[i:i + scan.CHUNK] for i in range(0, len(body), scan.CHUNK)):
        return plain
    try:
        with _field_limit():
            out = [row for row, record in _excel_records(text)
                   if row > header_at + 1 and record]
    except csv.Error:
        return plain
    return out if len(out) == count else plain


def read_csv(path: Path, contract: Contract, name: str) -> RawDelivery:
    with open(path, "rb") as f:
        line, longest = scan.longest_line(scan.chunks(f))
    if longest > limits.CSV_MAX_LINE_BYTES:
        raise too_large(name, f"第 {line} 行长 {limits.size_zh(longest)}",
                        f"每行 {limits.size_zh(limits.CSV_MAX_LINE_BYTES)}", row=line)
    mapped = pa.memory_map(str(path))  # the text's buffers point into it: closed at the end
    try:
        text, encoding, said = _as_utf8(mapped.read_buffer(), name)
        header_at, header = _header(text, contract, name)
        if not header:
            raise FileRejected("file_empty", f"{name} 没有表头，也没有数据行")
        if len(header) > limits.MAX_COLUMNS:
            raise too_large(name, f"表头有 {len(header)} 列", f"{limits.MAX_COLUMNS} 列")
        table = _parse(text, header_at, len(header), name)
        rows = _excel_rows(text, header_at, table.num_rows)
    finally:
        mapped.close()
    _check_sizes(table, header, header_at, name)
    frame = frames.text_frame(table.columns, _unique(header))
    row_numbers = pd.Series(rows, index=frame.index)
    notes: dict[str, Any] = {"format": "CSV", "encoding": encoding, "encoding_detected": said}
    if header_at:
        notes["header_row"] = header_at + 1
    return RawDelivery(frame, row_numbers, notes)
