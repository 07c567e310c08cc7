"""Row failures found while reading, before validation: cells a spreadsheet has damaged and
geometries no reader should pass on (non-finite or impossible coordinates, absurd sizes)."""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.contracts import Contract, FieldSpec
from pipelines.validate.run import FAILURE_COLUMNS
from pipelines.validate.suite import RULE_MESSAGE_ZH

# More vertices than any real parcel or project boundary has; beyond this a feature is a DoS.
MAX_VERTICES_PER_FEATURE = 1_000_000
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
