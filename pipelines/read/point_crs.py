"""Which system undeclared point coordinates are in: CGCS2000/WGS 84 or GCJ-02.

The two differ by 400-700 m, too little to tell from the numbers alone. Each point names its
own county (XZQDM); read one way the points fall inside their counties more often than read
the other way. Only the points one reading puts inside and the other outside are evidence
(most points sit deep inside under both); their majority decides when a sign test says it
is no accident (p < 0.05: at least 5 of 5), otherwise the contract's default stands.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import shapely

from pipelines.read import gcj02

GCJ02 = "GCJ02"
CGCS2000 = "EPSG:4490"
SIGNIFICANCE = 0.05
SAMPLE_POINTS = 20_000  # plenty to decide; keeps a 1M-row file fast
COUNTY_CODE_DIGITS = 6


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
    in_gcj = shapely.intersects_xy(polys, wx, wy)
    in_wgs = shapely.intersects_xy(polys, x, y)
    only_gcj, only_wgs = int((in_gcj & ~in_wgs).sum()), int((in_wgs & ~in_gcj).sum())
    p = _sign_test(max(only_gcj, only_wgs), only_gcj + only_wgs)
    chosen = default
    if p < SIGNIFICANCE:
        chosen = GCJ02 if only_gcj > only_wgs else CGCS2000
    evidence.update(chosen=chosen, inside_if_gcj02=round(float(in_gcj.mean()), 4),
                    inside_if_wgs84=round(float(in_wgs.mean()), 4),
                    inside_only_if_gcj02=only_gcj, inside_only_if_wgs84=only_wgs,
                    p_value=round(p, 6))
    if p >= SIGNIFICANCE:
        evidence["reason"] = "too few points tell the readings apart: contract default"
    return chosen, evidence


def _sign_test(wins: int, trials: int) -> float:
    """One-sided p-value of at least `wins` of `trials` fair coin tosses going one way."""
    if trials == 0:
        return 1.0
    return float(sum(math.comb(trials, k) for k in range(wins, trials + 1)) / 2**trials)
