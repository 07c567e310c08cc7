"""Streaming passes over a file's bytes that measure it before any parser commits memory.

Written by hand on purpose: the libraries that parse these formats (pyarrow, calamine, GDAL)
measure only by parsing, which is what must not happen first. Each pass reads fixed-size
chunks, does its work in C (bytes.count, re, numpy) and keeps a few numbers, so its memory
does not grow with the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

import numpy as np

CHUNK = 4 * 1024**2


def chunks(f: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    while chunk := f.read(size):
        yield chunk


def longest_line(parts: Iterable[bytes]) -> tuple[int, int]:
    """(1-based number, length in bytes) of the longest physical line."""
    start, offset, lines = 0, 0, 0  # where the current line started; bytes and lines before
    best, best_line = 0, 1
    for chunk in parts:
        ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10) + offset
        if len(ends):
            lengths = np.diff(ends, prepend=start - 1) - 1
            i = int(np.argmax(lengths))
            if lengths[i] > best:
                best, best_line = int(lengths[i]), lines + i + 1
            start, lines = int(ends[-1]) + 1, lines + len(ends)
        offset += len(chunk)
    if offset - start > best:
        best, best_line = offset - start, lines + 1
    return best_line, best


def has_blank_line(parts: Iterable[bytes | memoryview]) -> bool:
    """Whether some line of the text is empty (LF or CRLF line ends), parts read in turn."""
    tail = b""
    for part in parts:
        window = tail + bytes(part)
        if b"\n\n" in window or b"\n\r\n" in window:
            return True
        tail = window[-2:]
    return False


def json_depth(parts: Iterable[bytes]) -> int:
    """The deepest nesting of arrays and objects, brackets inside strings not counted."""
    depth, deepest, in_string, carry = 0, 0, False, b""
    for chunk in parts:
        data = carry + chunk
        run = len(data) - len(data.rstrip(b"\\"))
        carry = b"\\" * (run % 2)  # an odd trailing backslash run escapes what follows
        data = data[:len(data) - len(carry)]
        # an escaped backslash, then an escaped quote: neither opens nor closes a string
        data = data.replace(b"\\\\", b"__").replace(b'\\"', b"__")
        arr = np.frombuffer(data, np.uint8)
        quotes = np.flatnonzero(arr == ord('"'))
        opens = np.flatnonzero((arr == ord("[")) | (arr == ord("{")))
        closes = np.flatnonzero((arr == ord("]")) | (arr == ord("}")))
        where = np.concatenate([opens, closes])
        step = np.concatenate([np.ones(len(opens), np.int64), -np.ones(len(closes), np.int64)])
        order = np.argsort(where, kind="stable")
        where, step = where[order], step[order]
        inside = (np.searchsorted(quotes, where) + int(in_string)) % 2 == 1
        levels = depth + np.cumsum(np.where(inside, 0, step))
        if len(levels):
            deepest, depth = max(deepest, int(levels.max())), int(levels[-1])
        in_string = (len(quotes) + int(in_string)) % 2 == 1
    return deepest


# -- XLSX sheet XML ----------------------------------------------------------------------------
_ROOT = re.compile(rb"<([A-Za-z_][\w.-]*:)?worksheet[\s>]")
_DIMENSION = re.compile(rb"<(?:[\w.-]+:)?dimension\s+ref\s*=\s*[\"']([A-Z0-9:$]+)[\"']")
# what Excel, LibreOffice, WPS, openpyxl and xlsxwriter write; anything else takes _ANY_REF.
# The area counts cells with content only (an opening tag, not `<c r="XFD5" s="1"/>`): a cell
# that only carries a style is not read, and a stray one must not refuse a good sheet.
_CANONICAL = b'<c r="'
_COLUMN = re.compile(rb'<c r="([A-Z]{1,3})[0-9]{1,7}"[^>/]*>')
_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})"[^>/]*>')
_ANY_REF = re.compile(rb"""\sr\s*=\s*["']([A-Z]{1,3})([0-9]{1,7})["']""")
# a number cell of more digits than a double holds: calamine hands it over as a float, so the
# exact digits are taken from here (an 18-digit code some exporters store as a number)
_LONG_VALUE = re.compile(rb"<v>-?[0-9]{16}")
_LONG_INTEGER = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^>]*><v>(-?[0-9]{16,})</v>')


def column_index(letters: bytes | str) -> int:
    """1-based: A is 1, XFD is 16384."""
    n = 0
    for ch in letters.encode() if isinstance(letters, str) else letters:
        n = n * 26 + ch - 64
    return n


@dataclass
class SheetScan:
    cells: int = 0
    rows: tuple[int, int] = (0, 0)  # first and last row number, 1-based
    columns: tuple[int, int] = (0, 0)
    declared: str | None = None  # the sheet's <dimension ref>, not trusted
    exact: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) 0-based

    @property
    def height(self) -> int:
        return self.rows[1] - self.rows[0] + 1 if self.cells else 0

    @property
    def width(self) -> int:
        return self.columns[1] - self.columns[0] + 1 if self.cells else 0


def scan_sheet(parts: Iterable[bytes], max_cells: int) -> SheetScan:
    """Cells, first and last row and column; stops once past `max_cells` (refused anyway)."""
    out, tail, prefix = SheetScan(), b"", None
    letters: set[bytes] = set()
    numbers: set[bytes] = set()
    loose_cells = loose_rows = 0  # cells and rows without a position: placed after the last
    for chunk in parts:
        data = tail + chunk
        cut = data.rfind(b">") + 1 or max(0, len(data) - 64)  # no tag ends here: text
        data, tail = data[:cut], data[cut:]
        if prefix is None:
            root = _ROOT.search(data)
            prefix = (root.group(1) or b"") if root else b""
            dim = _DIMENSION.search(data)
            out.declared = dim.group(1).decode() if dim else None
        opening = b"<" + prefix + b"c"
        cells = sum(data.count(opening + end) for end in (b" ", b">", b"/"))
        odd = sum(data.count(opening + end) for end in (b"\t", b"\n", b"\r"))
        letters.update(_COLUMN.findall(data))
        numbers.update(_ROW.findall(data))
        if odd or data.count(_CANONICAL) < cells:
            # positions written another way, or none at all: the slow, general pass
            cells += odd
            refs = _ANY_REF.findall(data)
            letters.update(c for c, _ in refs)
            numbers.update(r for _, r in refs)
            loose_cells += max(0, cells - len(refs))
            loose_rows += sum(data.count(b"<" + prefix + b"row" + end) for end in (b" ", b">"))
        out.cells += cells
        if _LONG_VALUE.search(data):
            for col, row, digits in _LONG_INTEGER.findall(data):
                out.exact[(int(row) - 1, column_index(col) - 1)] = digits.decode()
        if out.cells > max_cells:
            break
    if out.cells:
        cols = [column_index(c) for c in letters] or [1]
        rows = [int(r) for r in numbers] or [1]
        out.columns = (min(cols), max(cols) + loose_cells)
        out.rows = (min(rows), max(rows) + loose_rows)
    return out
