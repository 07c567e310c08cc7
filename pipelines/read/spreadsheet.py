"""Read an XLSX sheet as text exactly as the clerk typed it.

Cells typed as numbers come back as their exact digits (an 18-digit code stored as an integer
keeps every digit); a number Excel has already rounded (more than 15 significant digits) comes
back in the scientific notation the clerk saw, so `row_checks` can name the damaged cell.
Merged header cells are filled from their top-left cell, so a two-row header (group titles
merged above the field names) still yields one row of field names.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd

from pipelines.contracts import Contract, normalise_header
from pipelines.read.errors import FileRejected

HEADER_SEARCH_ROWS = 15
EXACT_DIGITS = 15  # a double keeps 15 significant decimal digits; Excel shows no more


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
    return str(value)


def _fill_merged(ws: Any, last_row: int) -> None:
    for rng in list(ws.merged_cells.ranges):
        if rng.min_row > last_row:
            continue
        top_left = ws.cell(rng.min_row, rng.min_col).value
        ws.unmerge_cells(str(rng))
        for row in ws.iter_rows(min_row=rng.min_row, max_row=rng.max_row,
                                min_col=rng.min_col, max_col=rng.max_col):
            for cell in row:
                cell.value = top_left


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


def read_xlsx(path: Path, contract: Contract) -> tuple[pd.DataFrame, pd.Series, dict[str, Any]]:
    try:
        wb = openpyxl.load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl/defusedxml say why in English; the clerk needs Chinese
        raise FileRejected("unreadable", f"无法读取 Excel 文件 {path.name}：{exc}") from exc
    ws = wb.worksheets[0]
    _fill_merged(ws, HEADER_SEARCH_ROWS)
    rows = [[cell_text(v) for v in r] for r in ws.iter_rows(values_only=True)]
    wb.close()
    header_at = find_header(rows, contract.header_map())
    if header_at is None:
        raise FileRejected("missing_columns", f"{path.name} 前 {HEADER_SEARCH_ROWS} 行中找不到表头")
    header = [h if h is not None else f"(第{i + 1}列)" for i, h in enumerate(rows[header_at])]
    body = [r + [None] * (len(header) - len(r)) for r in rows[header_at + 1:]]
    frame = pd.DataFrame([r[:len(header)] for r in body], columns=header, dtype=object)
    # Excel rows are 1-based; data row i (0-based) sits at header_at + 2 + i.
    numbers = pd.Series(range(header_at + 2, header_at + 2 + len(frame)), index=frame.index)
    keep = frame.notna().any(axis=1)
    unnamed = [h for h in header if h.startswith("(第") and frame[h].isna().all()]
    frame = frame.loc[keep].drop(columns=unnamed)
    notes = {"format": "XLSX", "header_row": header_at + 1, "sheet": ws.title,
             "other_sheets_ignored": [s for s in wb.sheetnames if s != ws.title]}
    return frame, numbers[keep], notes
