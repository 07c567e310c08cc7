"""Reference systems: bring every delivery to CGCS2000 (EPSG:4490).

Accepted: EPSG:4490, the CGCS2000 3-degree Gauss-Kruger zones (EPSG:4513-4554), WGS 84, and
GCJ-02 (no EPSG code; see `pipelines.read.gcj02`). A missing .prj is inferred from the coordinates
and the inference is recorded in the drop's notes.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
from pyproj import CRS

from pipelines.contracts import Region
from pipelines.read.errors import FileRejected

STORAGE_EPSG = 4490
GK_ZONE_EPSG_BASE = 4513 - 25  # EPSG:4513 is zone 25; zone n is 4488 + n (with zone number)
GK_CM_EPSG_BASE = 4534  # EPSG:4534 is CM 75E; CM 75 + 3k is 4534 + k (without zone number)
ACCEPTED_EPSG = {4490, 4326, *range(4513, 4555)}


def gk_epsg_with_zone(zone: int) -> int:
    return GK_ZONE_EPSG_BASE + zone


def gk_epsg_for_cm(zone: int) -> int:
    return GK_CM_EPSG_BASE + (zone * 3 - 75) // 3


def _inside(gdf: gpd.GeoSeries, region: Region) -> float:
    e = region.extent
    b = gdf.bounds
    ok = (b.minx >= e.min_lon) & (b.maxx <= e.max_lon) & (b.miny >= e.min_lat) & (b.maxy <= e.max_lat)
    return float(ok.mean()) if len(ok) else 0.0


def infer_crs(geoms: gpd.GeoSeries, region: Region) -> tuple[int, str]:
    """Guess the CRS of coordinates that came without one; say how it was decided."""
    x = geoms.bounds.minx.replace([np.inf, -np.inf], np.nan).dropna()
    if x.empty:
        return STORAGE_EPSG, "no coordinates: assumed EPSG:4490"
    median_x = float(x.median())
    if -180 <= median_x <= 180:
        return STORAGE_EPSG, "geographic coordinates: assumed CGCS2000 (EPSG:4490)"
    if median_x > 1_000_000:
        zone = int(median_x // 1_000_000)
        if 25 <= zone <= 45:
            return gk_epsg_with_zone(zone), f"easting {median_x:.0f} carries zone {zone}"
    # Without a zone number, try the region's zones and keep the one that lands inside it.
    scores = []
    for zone in region.gk_zones:
        epsg = gk_epsg_for_cm(zone)
        scores.append((_inside(gpd.GeoSeries(geoms.values, crs=epsg).to_crs(STORAGE_EPSG),
                               region), epsg, zone))
    best = max(scores)
    if best[0] < 0.5:
        raise FileRejected("crs", "无法判断坐标系：缺少 .prj 且坐标不符合本地区任何 CGCS2000 高斯-克吕格分带")
    return best[1], f"easting without zone number: CM {best[2] * 3}E puts {best[0]:.0%} inside the region"


def to_storage_crs(gdf: gpd.GeoDataFrame, region: Region, notes: dict[str, Any]) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        epsg, why = infer_crs(gdf.geometry, region)
        notes["crs"] = f"EPSG:{epsg} (inferred: {why})"
        gdf = gdf.set_crs(epsg)
    else:
        epsg = gdf.crs.to_epsg(min_confidence=70)
        if epsg not in ACCEPTED_EPSG:
            raise FileRejected("crs", f"不接受的坐标系 {gdf.crs.name}：请使用 CGCS2000（EPSG:4490）、"
                               "CGCS2000 高斯-克吕格 3 度带或 WGS 84")
        notes["crs"] = f"EPSG:{epsg} (declared)"
    return gdf.to_crs(STORAGE_EPSG) if gdf.crs != CRS.from_epsg(STORAGE_EPSG) else gdf
