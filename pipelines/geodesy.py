"""Ellipsoidal measures on the storage CRS (CGCS2000, EPSG:4490)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from pyproj import CRS, Geod

STORAGE_CRS = CRS.from_epsg(4490)
# CGCS2000's ellipsoid; areas are ellipsoidal, as TBMJ is defined.
GEOD: Geod = STORAGE_CRS.get_geod()  # type: ignore[assignment]
M2_PER_MU = 10000 / 15


def ellipsoidal_area_m2(geoms: gpd.GeoSeries | np.ndarray) -> np.ndarray:
    """Geodesic area in m2 of lon/lat geometries; 0 for points, NaN for missing."""
    values = geoms.values if isinstance(geoms, gpd.GeoSeries) else geoms
    out = np.full(len(values), np.nan)
    for i, g in enumerate(values):
        if g is None or g.is_empty:
            continue
        out[i] = abs(GEOD.geometry_area_perimeter(g)[0])
    return out


def as_multipolygons(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Polygons promoted to one-part MultiPolygons, so a layer has a single geometry type."""
    import shapely

    values = np.asarray(geoms.values, dtype=object)
    polys = shapely.get_type_id(values) == 3
    if polys.any():
        values = values.copy()
        values[polys] = shapely.multipolygons(values[polys][:, None])
    return gpd.GeoSeries(values, index=geoms.index, crs=geoms.crs)
