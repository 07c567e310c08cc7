"""Row failures found while reading, before validation: cells a spreadsheet has damaged,
characters no warehouse can store, and geometries no reader should pass on (non-finite or
impossible coordinates, absurd sizes)."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.contracts import Contract, FieldSpec
from pipelines.pii import scrub_free_text
from pipelines.read.limits import MAX_VERTICES_PER_FEATURE  # a global here: tests lower it
from pipelines.validate.run import FAILURE_COLUMNS
from pipelines.validate.suite import RULE_MESSAGE_ZH

DAMAGED_CODE = "damaged_code"
DAMAGED_CODE_MESSAGE_ZH = ("第 {row} 行 {field} 单元格的值已被电子表格损坏（科学计数法或丢失位数），"
                           "请将该列设为文本格式后重新导出报送")
# "9.1110000600037E+17", "4.60105E17": how Excel shows a long number it has rounded.
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:\.\d+)?[eE][+-]?\d+$")


def _is_code(f: FieldSpec) -> bool:
    return f.type == "string" and not f.free_text and (
        f.check is not None or f.pii == "id_number" or f.pattern is not None
        or f.domain_ref is not None or f.domain is not None or f.code.endswith(("DM", "BH", "HM")))


def _lost_leading_zeros(text: pd.Series, f: FieldSpec) -> pd.Series:
    """"101" for DLBM "0101": a code column a spreadsheet took for numbers."""
    padded = {c for c in f.domain or () if c.startswith("0")}
    if not padded:
        return pd.Series(False, index=text.index)
    width = max(len(c) for c in padded)
    digits = text.str.fullmatch(r"\d+").fillna(False).astype(bool)
    return digits & (text.str.len() < width) & text.str.zfill(width).isin(padded)


def damaged_codes(frame: pd.DataFrame, contract: Contract, rows: pd.Series) -> pd.DataFrame:
    """One failure per code cell in scientific notation or stripped of its leading zeros: its
    digits are gone for good, and only the department can restore them."""
    found: list[dict[str, object]] = []
    for f in contract.fields:
        if f.column not in frame.columns or not _is_code(f):
            continue
        text = frame[f.column].astype("string").str.strip()
        # the pattern as text: pyarrow runs it in RE2, a compiled re.Pattern goes row by row
        bad = text.str.fullmatch(_SCIENTIFIC.pattern).fillna(False).astype(bool)
        bad |= _lost_leading_zeros(text, f)
        for idx in text.index[bad]:
            field = f"{f.code}（{f.label}）"
            found.append({
                "source_row": int(rows[idx]), "field": f.code, "rule": DAMAGED_CODE,
                "severity": "fail",
                "message": f"[{DAMAGED_CODE}] " + DAMAGED_CODE_MESSAGE_ZH.format(
                    row=int(rows[idx]), field=field),
                # personal data never goes into the quarantine in clear, even damaged
                "value": None if f.pii else str(text[idx]),
            })
    return pd.DataFrame(found, columns=FAILURE_COLUMNS)


BAD_CHARACTERS = "bad_characters"
# PostgreSQL's text cannot hold NUL, and no UTF-8 can hold a lone surrogate (a half of a
# UTF-16 pair, which a broken export or a JSON "\\ud800" escape leaves behind). SQLite stores
# NUL but every reader cuts the value there. Either would load differently on the two
# warehouses, or silently shortened: the row is quarantined naming the cell instead, and the
# value is carried on with U+FFFD in place of the character, so that the quarantine itself
# can store it. U+FFFD already in a value is a character a reader (GDAL's) could not decode:
# the value is not what the department typed either, so it is reported the same way.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
_DAMAGED = re.compile("[\x00\ud800-\udfff\ufffd]")
BAD_CHARACTERS_MESSAGE_ZH = ("第 {row} 行 {field} 含无法保存或已损坏的字符（空字符 NUL 或残缺的 Unicode 字符，"
                             "显示为 �），该行未入库：请删除或改正该字符后重新报送")


def clean_text(value: object) -> object:
    return _UNSTORABLE.sub(_REPLACEMENT, value) if isinstance(value, str) else value


def _damaged(values: pd.Series) -> np.ndarray:
    if isinstance(values.dtype, pd.StringDtype):  # Arrow-backed text cannot hold a surrogate
        found = values.str.contains("\x00", regex=False) | values.str.contains(_REPLACEMENT,
                                                                               regex=False)
        return np.asarray(found.fillna(False), dtype=bool)
    if values.dtype != object:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter((isinstance(v, str) and _DAMAGED.search(v) is not None
                        for v in values.to_numpy()), dtype=bool, count=len(values))


def bad_characters(frame: pd.DataFrame, contract: Contract,
                   rows: pd.Series) -> pd.DataFrame:
    """One failure per cell holding a character no warehouse stores (NUL, a lone surrogate);
    the cell is cleaned in place so nothing downstream sees the character."""
    found: list[dict[str, object]] = []
    labels = {f.column: f for f in contract.fields}
    for col in frame.columns:
        bad = _damaged(frame[col])
        if not bad.any():
            continue
        spec = labels.get(str(col))
        code = spec.code if spec else str(col)
        field = f"{spec.code}（{spec.label}）" if spec else str(col)
        cleaned = frame[col].map(clean_text, na_action="ignore")
        frame[col] = cleaned.astype(frame[col].dtype)
        for idx in frame.index[bad]:
            found.append({
                "source_row": int(rows[idx]), "field": code, "rule": BAD_CHARACTERS,
                "severity": "fail",
                "message": f"[{BAD_CHARACTERS}] " + BAD_CHARACTERS_MESSAGE_ZH.format(
                    row=int(rows[idx]), field=field),
                "value": None if spec is not None and spec.pii else
                scrub_free_text(str(cleaned[idx]))[:200],
            })
    return pd.DataFrame(found, columns=FAILURE_COLUMNS)


def _coordinates_ok(geoms: np.ndarray, geographic: bool) -> np.ndarray:
    ok = np.ones(len(geoms), dtype=bool)
    present = ~shapely.is_missing(geoms)
    if not present.any():
        return ok
    coords, owner = shapely.get_coordinates(geoms[present], return_index=True)
    bad = ~np.isfinite(coords).all(axis=1)
    if geographic:
        bad |= (np.abs(coords[:, 0]) > 180) | (np.abs(coords[:, 1]) > 90)
    bad_owner = np.zeros(int(present.sum()), dtype=bool)
    bad_owner[np.unique(owner[bad])] = True
    ok[np.flatnonzero(present)[bad_owner]] = False
    return ok


def unsafe_geometries(gdf: gpd.GeoDataFrame, rows: pd.Series) -> tuple[gpd.GeoDataFrame,
                                                                        pd.DataFrame]:
    """Null out and report features with non-finite or out-of-range coordinates or more than
    MAX_VERTICES_PER_FEATURE vertices; the rest of the file goes on."""
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    too_big = shapely.get_num_coordinates(geoms) > MAX_VERTICES_PER_FEATURE
    # Without a CRS (no .prj: inferred later) or projected, only finiteness can be checked;
    # conform checks again in EPSG:4490, where the range is known.
    geographic = gdf.crs is not None and bool(gdf.crs.is_geographic)
    checkable = geoms.copy()
    checkable[too_big] = None  # already failed; do not walk a million vertices again
    broken = ~too_big & ~_coordinates_ok(checkable, geographic)
    reasons = {"非有限（inf/NaN）或超出经纬度范围的坐标": broken,
               f"顶点数超过上限 {MAX_VERTICES_PER_FEATURE}": too_big}
    found = []
    for why, mask in reasons.items():
        if mask.any():
            found.append(pd.DataFrame({
                "source_row": rows.to_numpy()[mask].astype(int), "field": "geometry",
                "rule": "geometry_valid", "severity": "fail",
                "message": f"[geometry_valid] {RULE_MESSAGE_ZH['geometry_valid']}：{why}",
                "value": None}))
    drop = too_big | broken
    if drop.any():
        geoms[drop] = None
        gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    table = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=FAILURE_COLUMNS)
    return gdf, table
