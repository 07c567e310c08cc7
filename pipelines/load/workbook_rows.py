"""Rows as the department sees them: its row numbers, and its values as exact text.

What the reader records as a row's `source_row`:
- CSV and XLSX: the spreadsheet row Excel/WPS shows, counting the title and header rows
  (the header on row 3 puts the first record on row 4). Answered as it is.
- Shapefile, GeoPackage, GeoJSON: the feature's position in the layer, from 1. QGIS lists
  features in that order (its attribute table numbers rows from 1) but names a feature by its
  FID ($id, the Identify panel): OGR numbers Shapefile and GeoJSON features from 0, and a
  GeoPackage's FID is its `fid` column (1, 2, ... unless features were deleted). Both are
  answered: the position, and the FID (read from the file when given, else derived).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipelines.contracts import Contract, FieldSpec

SPREADSHEET_SUFFIXES = (".csv", ".xlsx")
FID_FROM_ZERO = (".zip", ".shp", ".geojson", ".json")  # OGR: record number - 1
# Text a spreadsheet would take for a formula (or DDE) when typed or opened from CSV.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
EXCEL_CELL_CHARS = 32767


@dataclass(frozen=True)
class RowNumbering:
    """How `source_row` is shown: `sheet` rows as they are, `feature` as position and FID."""

    kind: Literal["sheet", "feature"]
    file_format: str
    header_row: int | None = None
    fid_offset: int = 0  # FID = position + offset, where the file's own FIDs are not given
    feature_ids: Mapping[int, int] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        if self.kind == "sheet":
            return ["行号"]
        return ["要素序号", "FID"]

    def cells(self, source_row: int) -> list[str]:
        if self.kind == "sheet":
            return [str(source_row)]
        return [str(source_row), str(self.fid(source_row))]

    def fid(self, source_row: int) -> int:
        return int(self.feature_ids.get(source_row, source_row + self.fid_offset))

    def label(self, source_row: int) -> str:
        """第 12 行 / 第 12 个要素（FID 11）: how a hint names another row."""
        if self.kind == "sheet":
            return f"第 {source_row} 行"
        return f"第 {source_row} 个要素（FID {self.fid(source_row)}）"

    def describe(self) -> str:
        if self.kind == "sheet":
            where = (f"表头在第 {self.header_row} 行，第一条记录在第 {self.header_row + 1} 行"
                     if self.header_row else "含标题行和表头行")
            return (f"行号：用 Excel/WPS 打开所报送的 {self.file_format} 文件时左侧显示的行号"
                    f"（{where}）。")
        fid = ("GeoPackage 的 fid 字段" if self.fid_offset == 0
               else "从 0 开始，等于要素序号减 1")
        return ("要素序号：图层中的第几个要素，从 1 开始（QGIS 属性表未排序时左侧的行号）；"
                f"FID：QGIS「识别要素」面板和表达式 $id 显示的要素编号（{self.file_format}：{fid}）。")


def row_numbering(file_name: str, notes: Mapping[str, Any] | None = None,
                  feature_ids: Mapping[int, int] | None = None) -> RowNumbering:
    """The convention for a delivered file, from its name (and the reader's notes)."""
    suffix = Path(file_name).suffix.lower()
    notes = notes or {}
    if suffix in SPREADSHEET_SUFFIXES:
        header = notes.get("header_row")
        if header is None and suffix == ".csv" and "format" in notes:
            header = 1  # the reader notes a CSV's header only when it is not on line 1
        return RowNumbering("sheet", suffix[1:].upper(),
                            header_row=int(header) if header else None)
    fmt = {".zip": "Shapefile", ".shp": "Shapefile", ".gpkg": "GeoPackage"}.get(suffix, "GeoJSON")
    return RowNumbering("feature", fmt, fid_offset=-1 if suffix in FID_FROM_ZERO else 0,
                        feature_ids=dict(feature_ids or {}))


def read_feature_ids(path: Path, layer: str | None = None) -> dict[int, int]:
    """Position (from 1) -> FID of each feature of a GeoPackage or GeoJSON layer, read from
    the file: a GeoPackage whose features were deleted or reordered has gaps in its fids.
    Empty for formats whose FIDs follow from the position (Shapefile)."""
    if path.suffix.lower() not in (".gpkg", ".geojson", ".json"):
        return {}
    import pyogrio

    ids = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, columns=[],
                                 fid_as_index=True).index
    return {i: int(fid) for i, fid in enumerate(ids, start=1)}


def value_text(value: Any, ftype: str = "string") -> str:
    """A cell value as the text the department typed: codes and integers without `.0`,
    dates as yyyy-mm-dd, times as yyyy-mm-dd hh:mm:ss; empty for missing."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "是" if value else "否"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v)
    if isinstance(value, pd.Timestamp | dt.datetime | np.datetime64):
        ts = pd.Timestamp(value)
        if ftype == "date" or (ftype != "datetime" and ts == ts.normalize()):
            return str(ts.strftime("%Y-%m-%d"))
        return str(ts.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def is_formula_like(text: str) -> bool:
    return text.startswith(FORMULA_START)


def clip(text: str) -> str:
    return text if len(text) <= EXCEL_CELL_CHARS else text[:EXCEL_CELL_CHARS - 1] + "…"


def frame_column(f: FieldSpec) -> str:
    """Where a field's shown value is: the masked form of personal data, never the token."""
    return f"{f.column}_masked" if f.pii else f.column


def row_texts(contract: Contract, row: Mapping[str, Any] | None) -> dict[str, str]:
    """Field code -> the row's value as text (personal data masked)."""
    out: dict[str, str] = {}
    for f in contract.fields:
        value = None if row is None else row.get(frame_column(f))
        out[f.code] = value_text(value, f.type)
    return out
