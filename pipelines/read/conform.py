"""Map a raw delivery onto its contract: headers, types, geometry in EPSG:4490, personal data.

Strict interpretation: every column is mapped by the contract or reported as unknown; a
missing required column rejects the file naming it; a value that is not of its type is a
row failure naming row, field and rule.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines import pii
from pipelines.contracts import Contract, Region, normalise_header
from pipelines.geodesy import as_multipolygons
from pipelines.read import gcj02
from pipelines.read.crs import STORAGE_EPSG, to_storage_crs
from pipelines.read.errors import FileRejected
from pipelines.read.formats import RawDelivery
from pipelines.read.point_crs import detect_point_crs
from pipelines.read.row_checks import (
    bad_characters,
    clean_text,
    damaged_codes,
    unsafe_geometries,
)
from pipelines.validate.codes import id_card_ok
from pipelines.validate.run import FAILURE_COLUMNS
from pipelines.validate.suite import ROW_ID_COLUMN, RULE_MESSAGE_ZH

GCJ02_NAMES = {"GCJ02", "GCJ-02", "火星坐标", "火星坐标系", "高德", "腾讯"}
WGS84_NAMES = {"WGS84", "WGS-84", "WGS 84", "EPSG:4326", "4326", "CRS84"}
CGCS_NAMES = {"CGCS2000", "CGCS 2000", "EPSG:4490", "4490", "2000国家大地坐标系", "国家2000"}


@dataclass
class Conformed:
    frame: gpd.GeoDataFrame  # canonical columns, `_source_row`, geometry in EPSG:4490
    failures: pd.DataFrame  # type failures found while reading (same shape as validation's)
    notes: dict[str, Any]
    # Clear ID numbers (column -> values in frame order) for the GB 11643 check in validation
    # only: never stored, logged or loaded; the caller drops them once validation is done.
    clear_ids: dict[str, pd.Series] = field(default_factory=dict, repr=False)


def _map_headers(raw: pd.DataFrame, contract: Contract, notes: dict[str, Any]) -> pd.DataFrame:
    known = contract.header_map()
    rename: dict[str, str] = {}
    unknown: list[str] = []
    geom_name = raw.geometry.name if isinstance(raw, gpd.GeoDataFrame) else None
    for col in raw.columns:
        if col == geom_name:
            continue
        target = known.get(normalise_header(col))
        if target is None:
            unknown.append(str(col))
        elif target in rename.values():
            raise FileRejected("duplicate_columns", f"列 {col!r} 与另一列都对应字段 {target.upper()}",
                               field=target.upper())
        else:
            rename[col] = target
    missing = [f.code for f in contract.fields if f.required and f.column not in rename.values()]
    if missing:
        labels = "、".join(f"{c}（{contract.field(c).label}）" for c in missing)
        raise FileRejected("missing_columns", f"缺少必填列：{labels}", field=",".join(missing))
    notes["columns_mapped"] = {str(k): v.upper() for k, v in rename.items() if str(k) != v.upper()}
    if unknown:
        # Reported, never silently dropped: the department may have started sending something new.
        notes["unknown_columns"] = unknown
    keep = list(rename) + ([geom_name] if geom_name else [])
    return raw[keep].rename(columns=rename)


def _clean_text(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.strip()
    # NFKC leaves ASCII as it is; the rest is folded once per distinct value (a million work
    # orders hold a few hundred distinct 工单类型).
    odd = ~s.str.isascii().fillna(True).astype(bool)
    if odd.any():
        codes, uniques = pd.factorize(s[odd])
        folded = np.array([unicodedata.normalize("NFKC", u).strip() for u in uniques], dtype=object)
        s[odd] = folded[codes]
    return s.where(s != "", pd.NA)


def _type_values(frame: pd.DataFrame, contract: Contract, rows: pd.Series,
                 failures: list[pd.DataFrame]) -> None:
    for f in contract.fields:
        if f.column not in frame.columns:
            frame[f.column] = pd.NA
            continue
        raw = frame[f.column]
        if f.type == "string":
            if f.free_text:
                frame[f.column] = raw.astype("string").str.strip().where(raw.notna(), pd.NA)
            else:
                frame[f.column] = _clean_text(raw)
            continue
        text = _clean_text(raw)
        if f.type in ("integer", "number"):
            typed = pd.to_numeric(text, errors="coerce")
        elif f.type == "date":
            typed = pd.to_datetime(text, errors="coerce", format="mixed").dt.normalize()
        else:
            typed = pd.to_datetime(text, errors="coerce", format="mixed")
        bad = text.notna() & typed.isna()
        if bad.any():
            failures.append(pd.DataFrame({
                "source_row": rows[bad].astype(int).values, "field": f.code, "rule": "type",
                "severity": "fail",
                "message": "[type] " + RULE_MESSAGE_ZH["type"].format(field=f"{f.code}（{f.label}）"),
                "value": text[bad].astype(str).values,
            }))
        frame[f.column] = typed


def _point_crs(frame: pd.DataFrame, contract: Contract) -> pd.Series:
    """The system each row says its coordinates are in; None where it does not say."""
    assert contract.coordinates is not None
    declared = pd.Series(None, index=frame.index, dtype=object)
    if contract.coordinates.crs_field:
        col = contract.coordinates.crs_field.lower()
        said = frame[col].map(lambda v: normalise_header(v) if isinstance(v, str) else None)
        names = {**{normalise_header(n): "GCJ02" for n in GCJ02_NAMES},
                 **{normalise_header(n): "EPSG:4326" for n in WGS84_NAMES},
                 **{normalise_header(n): "EPSG:4490" for n in CGCS_NAMES}}
        declared = said.map(names).astype(object)
    return declared.where(declared.notna(), None)


def _points_from_columns(frame: pd.DataFrame, contract: Contract, notes: dict[str, Any],
                         counties: gpd.GeoDataFrame | None,
                         rows: pd.Series) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    assert contract.coordinates is not None
    lon = pd.to_numeric(frame[contract.coordinates.lon.lower()], errors="coerce").to_numpy(float)
    lat = pd.to_numeric(frame[contract.coordinates.lat.lower()], errors="coerce").to_numpy(float)
    systems = _point_crs(frame, contract)
    undeclared = systems.isna().to_numpy()
    fallback = contract.coordinates.default_crs
    stated = contract.county_column
    if undeclared.any() and counties is not None and stated and stated in frame.columns:
        # Beyond the contract's default: let the points' own counties say which system fits.
        fallback, notes["crs_detection"] = detect_point_crs(
            lon[undeclared], lat[undeclared], frame[stated].to_numpy(object)[undeclared],
            counties, fallback)
    systems = systems.where(~undeclared, fallback)
    is_gcj = (systems == "GCJ02").to_numpy()
    lon, lat = lon.copy(), lat.copy()
    if is_gcj.any():
        lon[is_gcj], lat[is_gcj] = gcj02.gcj02_to_wgs84(lon[is_gcj], lat[is_gcj])
    # WGS 84 and CGCS2000 agree to a few centimetres here: PROJ's transform is a no-op.
    notes["crs"] = {str(k): int(v) for k, v in systems.value_counts().items()}
    has = np.isfinite(lon) & np.isfinite(lat)
    geoms = np.full(len(frame), None, dtype=object)
    geoms[has] = shapely.points(lon[has], lat[has])
    return gpd.GeoDataFrame(frame, geometry=geoms, crs=STORAGE_EPSG), _unusable_coordinates(
        frame, contract, rows, has)


def _unusable_coordinates(frame: pd.DataFrame, contract: Contract, rows: pd.Series,
                          has: np.ndarray) -> pd.DataFrame:
    """A row that gives coordinates no point can be made of (inf, NaN, or only one of the
    pair) is a failure, not a row without a location. A row that gives none stays valid
    where the contract allows that (not every work order is geocoded)."""
    assert contract.coordinates is not None
    cols = [contract.coordinates.lon.lower(), contract.coordinates.lat.lower()]
    given = frame[cols].notna().any(axis=1).to_numpy()
    bad = given & ~has
    if not bad.any():
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    lon, lat = contract.field(contract.coordinates.lon), contract.field(contract.coordinates.lat)
    return pd.DataFrame({
        "source_row": rows.to_numpy()[bad].astype(int), "field": f"{lon.code},{lat.code}",
        "rule": "geometry_valid", "severity": "fail",
        "message": f"[geometry_valid] {RULE_MESSAGE_ZH['geometry_valid']}：{lon.code}（{lon.label}）"
                   f"、{lat.code}（{lat.label}）不是一对有限的坐标",
        "value": [f"{x},{y}" for x, y in zip(frame.loc[bad, cols[0]], frame.loc[bad, cols[1]],
                                              strict=True)]})


def conform(raw: RawDelivery, contract: Contract, region: Region, pii_key: bytes,
            counties: gpd.GeoDataFrame | None = None) -> Conformed:
    """`counties` (columns `county_code`, geometry `geom`, EPSG:4490) lets undeclared point
    coordinates be tested against the counties their XZQDM names; without it the contract's
    default CRS applies."""
    notes = dict(raw.notes)
    if len(raw.frame) == 0:
        raise FileRejected("file_empty", "文件只有表头，没有数据行")
    # a header no warehouse can store (NUL) would break the notes naming it as unknown
    headers = [clean_text(c) for c in raw.frame.columns]
    if headers != list(raw.frame.columns):
        raw.frame.columns = pd.Index(headers, dtype=object)
    frame = _map_headers(raw.frame, contract, notes)
    rows = raw.row_numbers
    failures: list[pd.DataFrame] = []
    geometry = frame.geometry if isinstance(frame, gpd.GeoDataFrame) else None
    attrs = pd.DataFrame(frame.drop(columns=[geometry.name]) if geometry is not None else frame)
    failures.append(bad_characters(attrs, contract, rows))
    failures.append(damaged_codes(attrs, contract, rows))
    _type_values(attrs, contract, rows, failures)
    if geometry is not None:
        gdf, bad = unsafe_geometries(gpd.GeoDataFrame(attrs, geometry=geometry.values,
                                                      crs=geometry.crs), rows)
        gdf = to_storage_crs(gdf, region, notes)
        gdf, bad_after = unsafe_geometries(gdf, rows)  # now the lon/lat range is known
        failures += [bad, bad_after]
    elif contract.geometry_from_columns:
        gdf, unusable = _points_from_columns(attrs, contract, notes, counties, rows)
        failures.append(unusable)
    else:
        raise FileRejected("format", f"{contract.title} 需要图形：请报送带图形的格式")
    if contract.geometry == "MultiPolygon":
        gdf = gdf.set_geometry(as_multipolygons(gdf.geometry))
    clear_ids: dict[str, pd.Series] = {}
    for f in contract.fields:
        if f.check == "id_card":
            # once per distinct number: callers call again
            codes, uniques = pd.factorize(gdf[f.column])
            clear = pd.Series([pii.normalise_id_number(v) if isinstance(v, str) else v
                               for v in uniques], dtype=object)
            ok = np.append(id_card_ok(clear).astype(object),
                           np.array([None], dtype=object))
            gdf[f"{f.column}_check_ok"] = pd.Series(ok[codes], index=gdf.index,
                                                    dtype="boolean")
            # validation needs the clear numbers row by row, in frame order (-1, a null: None)
            by_code = np.append(clear.to_numpy(dtype=object), np.array([None], dtype=object))
            clear_ids[f.column] = pd.Series(by_code[codes])
    protected = pii.protect_columns(
        pd.DataFrame(gdf.drop(columns=gdf.geometry.name)),
        {f.column: f.pii for f in contract.fields if f.pii},
        pii_key, [f.column for f in contract.fields if f.free_text])
    out = gpd.GeoDataFrame(protected, geometry=gdf.geometry.values, crs=STORAGE_EPSG)
    out[ROW_ID_COLUMN] = rows.values
    found = [f for f in failures if not f.empty]
    table = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=FAILURE_COLUMNS)
    return Conformed(out.reset_index(drop=True), table, notes, clear_ids)
