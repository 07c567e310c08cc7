"""The row checks our GX expectations run, as plain vectorised functions.

The metric providers in `custom_expectations` are thin wrappers around these, so a check means
the same thing inside GX and in `bench/validation_speed.py`'s direct reference path. Each
returns a boolean array, True where the row passes; a missing value passes (absence is the
`required` rule's business, not theirs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from pipelines.geodesy import M2_PER_MU, ellipsoidal_area_m2
from pipelines.validate.codes import id_card_ok, uscc_ok

BoolArray = npt.NDArray[np.bool_]
__all__ = ["id_card_ok", "uscc_ok"]  # the code checks live with their algorithms

# The contract's geometry type and the shapely types a row may have for it: a one-part
# Point delivered as MultiPoint is still a point; polygons are promoted to MultiPolygon.
GEOMETRY_TYPES: dict[str, tuple[str, ...]] = {
    "Point": ("Point", "MultiPoint"),
    "MultiPolygon": ("Polygon", "MultiPolygon"),
}
_TYPE_IDS = {"Point": 0, "MultiPoint": 4, "Polygon": 3, "MultiPolygon": 6}



def _geoms(values: object) -> np.ndarray:
    return np.asarray(values, dtype=object)


def geometry_ok(values: object, geometry_type: str) -> BoolArray:
    """OGC-valid, not empty and of the contract's type. A parcel boundary is a legal record:
    an invalid one is an error, never repaired here."""
    geoms = _geoms(values)
    allowed = [_TYPE_IDS[t] for t in GEOMETRY_TYPES[geometry_type]]
    missing = shapely.is_missing(geoms)
    ok = shapely.is_valid(geoms) & ~shapely.is_empty(geoms) & np.isin(
        shapely.get_type_id(geoms), allowed)
    return np.asarray(ok | missing, dtype=bool)


def within_extent(values: object, min_lon: float, min_lat: float, max_lon: float,
                  max_lat: float) -> BoolArray:
    geoms = _geoms(values)
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        ok = ((bounds[:, 0] >= min_lon) & (bounds[:, 1] >= min_lat)
              & (bounds[:, 2] <= max_lon) & (bounds[:, 3] <= max_lat))
    return np.asarray(ok | shapely.is_missing(geoms), dtype=bool)


def first_occurrence(values: pd.Series) -> BoolArray:
    """Only the repeats of a key are unexpected: the first copy still loads."""
    return np.asarray(~values.duplicated(keep="first") | values.isna(), dtype=bool)


def county_location_ok(codes: pd.Series, values: object,
                       counties: Mapping[str, BaseGeometry]) -> BoolArray:
    """The feature does not lie in another county than the one its code names.

    The location is the point, or for a polygon a point guaranteed inside it. A feature in
    no county at all (off the coast, or outside the region: `geometry_in_region`'s) passes,
    as do codes with no polygon (unknown codes are the `domain` rule's) and rows without
    geometry: each problem is reported once, by the rule that owns it."""
    geoms = _geoms(values)
    code = codes.astype("string").to_numpy(dtype=object, na_value=None)
    present = ~shapely.is_missing(geoms) & ~shapely.is_empty(geoms)
    where = np.full(len(geoms), None, dtype=object)
    where[present] = shapely.point_on_surface(geoms[present])
    named = np.zeros(len(geoms), dtype=bool)  # in the county the code names
    known = np.zeros(len(geoms), dtype=bool)  # code names a county we have a polygon of
    for county_code, polygon in counties.items():
        rows = np.flatnonzero(present & (code == county_code))
        if rows.size:
            shapely.prepare(polygon)
            known[rows] = True
            named[rows] = shapely.covers(polygon, where[rows])
    doubt = np.flatnonzero(known & ~named)
    in_other = np.zeros(len(geoms), dtype=bool)
    if doubt.size:
        tree = shapely.STRtree(list(counties.values()))
        hits = tree.query(where[doubt], predicate="covered_by")[0]
        in_other[doubt[np.unique(hits)]] = True
    return ~in_other


def dates_out_of_order(frame: pd.DataFrame, order: Sequence[str]) -> tuple[np.ndarray,
                                                                         np.ndarray]:
    """For each row the first pair (earlier, later) of `order`'s columns whose values run
    backwards, as column positions; (-1, -1) where the chain is in order. Missing values
    are skipped, so dispatch ≤ closed is still checked when first contact is empty."""
    n = len(frame)
    first = np.full(n, -1, dtype=np.int64)
    second = np.full(n, -1, dtype=np.int64)
    cols = [pd.to_datetime(frame[c]).to_numpy("datetime64[ns]") for c in order]
    present = [~np.isnat(c) for c in cols]
    for j in range(1, len(cols)):
        for i in range(j):
            bad = (first < 0) & present[i] & present[j] & (cols[j] < cols[i])
            first[bad], second[bad] = i, j
    return first, second


def dates_in_order(frame: pd.DataFrame, order: Sequence[str]) -> BoolArray:
    return np.asarray(dates_out_of_order(frame, order)[0] < 0, dtype=bool)


def area_agrees(stated: pd.Series, values: object, unit: str, tolerance: float) -> BoolArray:
    """The stated area is within `tolerance` (a share) of the geometry's ellipsoidal area.

    Rows without a stated area or without a measurable geometry pass: those are other rules."""
    true_m2 = ellipsoidal_area_m2(_geoms(values))
    true = true_m2 / M2_PER_MU if unit == "mu" else true_m2
    said = pd.to_numeric(stated, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.abs(said / true - 1) > tolerance
    return np.asarray(~(off & (true > 0) & np.isfinite(said)), dtype=bool)
