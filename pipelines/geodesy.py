"""Ellipsoidal measures on the storage CRS (CGCS2000, EPSG:4490)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import geopandas as gpd
import numpy as np
from pyproj import CRS, Geod

STORAGE_CRS = CRS.from_epsg(4490)
# CGCS2000's ellipsoid; areas are ellipsoidal, as TBMJ is defined.
GEOD: Geod = STORAGE_CRS.get_geod()  # type: ignore[assignment]
M2_PER_MU = 10000 / 15


def ellipsoidal_area_m2(geoms: gpd.GeoSeries | np.ndarray) -> np.ndarray:
    """Geodesic area in m2 of lon/lat geometries; 0 for points, NaN for missing.

    Each ring is measured with Geod.polygon_area_perimeter on coordinates taken out in one
    vectorised call (5x faster than Geod.geometry_area_perimeter per shape at 1M pieces), and
    holes are subtracted by magnitude, so a MultiPolygon whose parts wind differently is not
    cancelled out as a signed sum would be.
    """
    import shapely

    values = np.asarray(geoms.values if isinstance(geoms, gpd.GeoSeries) else geoms,
                        dtype=object)
    out = np.full(len(values), np.nan)
    present = ~shapely.is_missing(values)
    present[present] = ~shapely.is_empty(values[present])
    out[present] = 0.0
    polys, owner = shapely.get_parts(values[present], return_index=True)
    owner = np.flatnonzero(present)[owner]
    is_poly = shapely.get_type_id(polys) == 3  # parts of collections may be lines or points
    polys, owner = polys[is_poly], owner[is_poly]
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    if len(rings) == 0:
        return out
    hole = np.r_[False, ring_poly[1:] == ring_poly[:-1]]  # a polygon's first ring is its shell
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    bounds = np.r_[0, np.flatnonzero(np.diff(ring_of)) + 1, len(ring_of)]
    lon, lat = np.ascontiguousarray(xy[:, 0]), np.ascontiguousarray(xy[:, 1])
    ring_area = np.zeros(len(rings))
    measure = _ring_measure()
    starts, ends = bounds[:-1].tolist(), bounds[1:].tolist()
    for ring, a, b in zip(ring_of[bounds[:-1]].tolist(), starts, ends, strict=True):
        ring_area[ring] = abs(measure(lon[a:b], lat[a:b])[0])
    np.add.at(out, owner[ring_poly], np.where(hole, -ring_area, ring_area))
    return out


def _ring_measure() -> Callable[[np.ndarray, np.ndarray], tuple[float, float]]:
    """Geod.polygon_area_perimeter without its copy of each ring: the public method copies
    its arguments into new buffers (`_copytobuffer`) before calling the Cython method that
    hands them to GeographicLib's geod_polygonarea, which only reads them (in degrees). Our
    rings are slices of one contiguous float64 array already, so the method is called on
    them directly: same function, same figures, 0.82 -> 0.47 s for a county's 106 thousand
    parcels. The public method where a pyproj release no longer has it."""
    direct = getattr(GEOD, "_polygon_area_perimeter", None)
    if direct is None:
        return GEOD.polygon_area_perimeter
    return partial(direct, radians=False)


def as_multipolygons(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Polygons promoted to one-part MultiPolygons, so a layer has a single geometry type."""
    import shapely

    values = np.asarray(geoms.values, dtype=object)
    polys = shapely.get_type_id(values) == 3
    if polys.any():
        values = values.copy()
        values[polys] = shapely.multipolygons(values[polys][:, None])
    return gpd.GeoSeries(values, index=geoms.index, crs=geoms.crs)
