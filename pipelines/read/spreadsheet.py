"""Read an XLSX sheet as text exactly as the clerk typed it.

Cells typed as numbers come back as their exact digits (an 18-digit code stored as an integer
keeps every digit); a number Excel has already rounded (more than 15 significant digits) comes
back in the scientific notation the clerk saw, so `row_checks` can name the damaged cell.
Merged header cells are filled from their top-left cell, so a two-row header (group titles
merged above the field names) still yields one row of field names.

calamine (Rust) parses: ~18x openpyxl's cell loop (20 000 rows of 20 columns: 1.3 s against
23 s). It allocates the sheet's whole area, so the package is measured first (`xlsx_parts`):
declared part sizes, then the cells and the area the sheet XML really holds.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from python_calamine import CalamineWorkbook, SheetTypeEnum

from pipelines.contracts import Contract, normalise_header
from pipelines.read import frames, limits, safety, xlsx_parts
from pipelines.read.delivery import RawDelivery
from pipelines.read.errors import FileRejected, library_detail

HEADER_SEARCH_ROWS = 15
EXACT_DIGITS = 15  # a double keeps 15 significant decimal digits; Excel shows no more
BATCH_ROWS = 65_536  # rows turned into Arrow arrays at a time: Python lists stay small


def cell_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 10**EXACT_DIGITS:
            return str(int(value))
        if abs(value) >= 10**EXACT_DIGITS:
            # Already rounded by the spreadsheet: show it as Excel does, never as fake digits.
            mantissa, exp = f"{value:.{EXACT_DIGITS - 1}E}".split("E")
            return f"{mantissa.rstrip('0').rstrip('.')}E+{int(exp)}"
        return repr(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value) or None


def _known_cells(row: list[str | None], known: dict[str, str]) -> tuple[int, int]:
    cells = dict.fromkeys(normalise_header(v) for v in row if v is not None and v.strip())
    return sum(c in known for c in cells), len(cells)


def find_header(rows: list[list[str | None]], known: dict[str, str]) -> int | None:
    """The first row most of whose cells are field names the contract knows; in a two-row
    header the lower row (where vertically merged names repeat) names every column."""
    scores = [_known_cells(r, known) for r in rows[:HEADER_SEARCH_ROWS + 1]]
    for i, (hits, cells) in enumerate(scores[:HEADER_SEARCH_ROWS]):
        if cells and hits >= max(2, cells // 2):
            below = scores[i + 1][0] if i + 1 < len(scores) else 0
            return i + 1 if below > hits else i
    return None


class _Cells:
    """The sheet's rows as text, merged ranges that start in the header zone filled from their
    top-left cell, numbers the XML holds more digits of than a double given exactly."""

    def __init__(self, rows: Iterator[list[Any]], start: tuple[int, int],
                 merged: list[tuple[tuple[int, int], tuple[int, int]]],
                 exact: dict[tuple[int, int], str]) -> None:
        self.rows, self.row0, self.col0, self.exact = rows, start[0], start[1], exact
        # merges are disjoint, so no more than a header's width of them reach into the data
        self.merged = sorted(m for m in merged if m[0][0] < HEADER_SEARCH_ROWS)
        self.merged = self.merged[:(HEADER_SEARCH_ROWS + 1) * limits.MAX_COLUMNS]
        self.top_left: dict[tuple[int, int], str | None] = {}

    def __iter__(self) -> Iterator[tuple[int, list[str | None]]]:
        """(Excel row number, cells from the sheet's first used column)."""
        active = self.merged
        for i, values in enumerate(self.rows):
            r = self.row0 + i
            cells = [(v or None) if type(v) is str else cell_text(v) for v in values]
            if self.exact:
                for j, v in enumerate(values):
                    if isinstance(v, float) and (r, self.col0 + j) in self.exact:
                        cells[j] = self.exact[(r, self.col0 + j)]
            if active:
                active = [m for m in active if m[1][0] >= r]
                self._fill(r, cells, active)
            yield r + 1, cells

    def _fill(self, r: int, cells: list[str | None], active: list[Any]) -> None:
        for (r0, c0), (_, c1) in active:
            if r0 > r:
                break
            first = max(c0 - self.col0, 0)
            if r == r0:
                self.top_left[(r0, c0)] = cells[first] if first < len(cells) else None
            value = self.top_left.get((r0, c0))
            for j in range(first, min(c1 - self.col0 + 1, len(cells))):
                cells[j] = value


def _columns(body: Iterator[tuple[int, list[str | None]]], width: int,
             numbers: list[int]) -> list[pa.ChunkedArray]:
    """The data rows as Arrow text columns, blank rows left out (their numbers too)."""
    chunks: list[list[pa.Array]] = [[] for _ in range(width)]
    batch: list[list[str | None]] = []

    def flush() -> None:
        for j in range(width):
            chunks[j].append(pa.array([r[j] if j < len(r) else None for r in batch], pa.string()))
        batch.clear()

    for number, cells in body:
        if any(c is not None for c in cells[:width]):
            batch.append(cells)
            numbers.append(number)
            if len(batch) >= BATCH_ROWS:
                flush()
    flush()
    return [pa.chunked_array(c, pa.string()) for c in chunks]


def read_xlsx(path: Path, contract: Contract, name: str) -> RawDelivery:
    with safety.open_zip(path, name) as zf:  # the parent has checked it: formats._open
        try:
            book = CalamineWorkbook.from_path(path)
        except MemoryError:
            raise
        except Exception as exc:  # calamine's words: engineers' log only
            raise _broken(name, exc) from exc
        worksheets = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
        sheet = xlsx_parts.first_sheet(zf, book.sheet_names, worksheets, name)
        found = xlsx_parts.measure(zf, sheet, name)
    try:
        ws = book.get_sheet_by_name(sheet.title)
        start = ws.start or (0, 0)
        cells = iter(_Cells(ws.iter_rows(), start, ws.merged_cell_ranges or [], found.exact))
        head = [c for _, c in zip(range(HEADER_SEARCH_ROWS + 1), cells, strict=False)]
    except MemoryError:
        raise
    except Exception as exc:
        raise _broken(name, exc) from exc
    header_at = find_header([c for _, c in head], contract.header_map())
    if header_at is None:
        raise FileRejected("missing_columns", f"{name} 前 {HEADER_SEARCH_ROWS} 行中找不到表头")
    header = [h if h is not None else f"(第{start[1] + i + 1}列)"
              for i, h in enumerate(head[header_at][1])]
    numbers: list[int] = []
    columns = _columns(itertools.chain(head[header_at + 1:], cells), len(header), numbers)
    frame = frames.text_frame(columns, header)
    unnamed = [i for i, h in enumerate(header) if h.startswith("(第") and frame.iloc[:, i].isna().all()]
    frame = frame.drop(columns=frame.columns[unnamed]) if unnamed else frame
    notes = {"format": "XLSX", "header_row": head[header_at][0], "sheet": sheet.title,
             "other_sheets_ignored": sheet.others}
    if found.declared:
        notes["dimension"] = found.declared
    return RawDelivery(frame, pd.Series(numbers, index=frame.index, dtype="int64"), notes)


def _broken(name: str, exc: BaseException) -> FileRejected:
    return FileRejected("unreadable", f"无法读取 Excel 文件 {name}：工作簿内部结构已损坏（如共享字符串表"
                        "或工作表无法解析），请用 Excel 或 WPS 打开后另存为 .xlsx 重新报送",
                        detail=library_detail(exc))
