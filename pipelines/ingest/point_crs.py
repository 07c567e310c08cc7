"""Which system undeclared point coordinates are in: CGCS2000/WGS 84 or GCJ-02.

The two differ by 400-700 m, too little to tell from the numbers alone. Each point names its
own county (XZQDM); read one way the points fall inside their counties more often than read
the other way. The side with more points inside wins; a tie keeps the contract's default.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from pipelines import gcj02

GCJ02 = "GCJ02"
CGCS2000 = "EPSG:4490"
SAMPLE_POINTS = 20_000  # plenty to decide; keeps a 1M-row file fast
COUNTY_CODE_DIGITS = 6


def _inside_share(lon: npt.NDArray[np.floating[Any]], lat: npt.NDArray[np.floating[Any]],
                  polygons: npt.NDArray[np.object_]) -> float:
    return float(shapely.intersects_xy(polygons, lon, lat).mean())


def detect_point_crs(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64],
                     county_codes: npt.NDArray[np.object_], counties: gpd.GeoDataFrame,
                     default: str) -> tuple[str, dict[str, Any]]:
    """Return the system to read these points in and the evidence for the drop's notes."""
    by_code = dict(zip(counties["county_code"].astype(str), counties.geometry.values,
                       strict=True))
    codes = np.array([str(c)[:COUNTY_CODE_DIGITS] if isinstance(c, str) else "" for c in
                      county_codes], dtype=object)
    polygons = np.array([by_code.get(c) for c in codes], dtype=object)
    usable = np.flatnonzero(np.isfinite(lon) & np.isfinite(lat) & ~shapely.is_missing(polygons))
    if len(usable) > SAMPLE_POINTS:
        usable = np.random.default_rng(0).choice(usable, SAMPLE_POINTS, replace=False)
    evidence: dict[str, Any] = {"points": len(usable)}
    if len(usable) == 0:
        evidence.update(chosen=default, reason="no point with a known county: contract default")
        return default, evidence
    x, y, polys = lon[usable], lat[usable], polygons[usable]
    wx, wy = gcj02.gcj02_to_wgs84(x, y)
    as_gcj = _inside_share(wx, wy, polys)
    as_wgs = _inside_share(x, y, polys)
    chosen = GCJ02 if as_gcj > as_wgs else CGCS2000 if as_wgs > as_gcj else default
    evidence.update(chosen=chosen, inside_if_gcj02=round(as_gcj, 4),
                    inside_if_wgs84=round(as_wgs, 4))
    if as_gcj == as_wgs:
        evidence["reason"] = "both readings place the same share inside: contract default"
    return chosen, evidence
