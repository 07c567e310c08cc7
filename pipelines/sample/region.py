"""Synthetic but plausible geography of Hainan: island outline, county polygons, local frames."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
import yaml
from pyproj import CRS, Geod, Transformer

FloatArray = npt.NDArray[np.float64]

REGION_FILE = Path(__file__).resolve().parents[2] / "schemas" / "region.yml"
GEOD: Geod = CRS.from_epsg(4490).get_geod()  # type: ignore[assignment]
M2_PER_MU = 10000.0 / 15.0

# Hand-traced coast of Hainan (lon, lat), clockwise from Lingao; Chaikin smoothing rounds
# it and the result is stretched to the island's real bounding box.
_COAST = [
    (109.60, 19.98),
    (109.95, 19.99),
    (110.15, 20.07),
    (110.40, 20.06),
    (110.62, 20.16),
    (110.80, 20.12),
    (110.95, 19.95),
    (111.04, 19.66),
    (110.90, 19.42),
    (110.66, 19.18),
    (110.55, 18.93),
    (110.45, 18.72),
    (110.20, 18.46),
    (109.95, 18.32),
    (109.70, 18.20),
    (109.48, 18.14),
    (109.20, 18.24),
    (108.92, 18.42),
    (108.70, 18.70),
    (108.60, 19.05),
    (108.66, 19.30),
    (108.88, 19.48),
    (109.12, 19.68),
    (109.30, 19.86),
]
ISLAND_BOUNDS = (108.62, 18.16, 111.03, 20.16)
# Prefecture-level cities whose districts carry the city in registry names.
PREFECTURES = {"4601": "海口市", "4602": "三亚市"}


@dataclass(frozen=True)
class County:
    code: str
    name: str
    seat: tuple[float, float]
    polygon: shapely.Polygon | shapely.MultiPolygon

    @property
    def full_name(self) -> str:
        """Name as registries write it: 海口市秀英区, 文昌市, 定安县."""
        return PREFECTURES.get(self.code[:4], "") + self.name


def _chaikin(points: FloatArray, rounds: int) -> FloatArray:
    # Corner cutting on a closed ring: each round replaces every edge by its 1/4 and 3/4 points.
    for _ in range(rounds):
        nxt = np.roll(points, -1, axis=0)
        points = np.stack([0.75 * points + 0.25 * nxt, 0.25 * points + 0.75 * nxt], axis=1)
        points = points.reshape(-1, 2)
    return points


def island_outline() -> shapely.Polygon:
    pts = _chaikin(np.asarray(_COAST, dtype=np.float64), rounds=4)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    x0, y0, x1, y1 = ISLAND_BOUNDS
    pts = (pts - lo) / (hi - lo) * np.array([x1 - x0, y1 - y0]) + np.array([x0, y0])
    return shapely.Polygon(pts)


def load_region(path: Path = REGION_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data: dict[str, Any] = yaml.safe_load(fh)
    return data


@cache
def counties() -> tuple[County, ...]:
    """The 24 county-level units as Voronoi cells of their seats, clipped to the island."""
    region = load_region()
    island = island_outline()
    ext = region["extent"]
    if not shapely.box(ext["min_lon"], ext["min_lat"], ext["max_lon"], ext["max_lat"]).contains(
        island
    ):
        raise ValueError("island outline leaves region.yml's extent")
    seats = [(float(c["seat"][0]), float(c["seat"][1])) for c in region["counties"]]
    cells = shapely.voronoi_polygons(
        shapely.MultiPoint(seats), extend_to=island.buffer(1.0), ordered=True
    )
    out = []
    for spec, seat, cell in zip(region["counties"], seats, cells.geoms, strict=True):
        if not island.contains(shapely.Point(seat)):
            raise ValueError(f"seat of {spec['name']} lies outside the island outline")
        polygon = shapely.intersection(cell, island)
        out.append(County(str(spec["code"]), str(spec["name"]), seat, polygon))
    return tuple(out)


def metres_per_degree(lat: FloatArray | float) -> tuple[FloatArray, FloatArray]:
    """Metres per degree of lon and lat on GRS80 (CGCS2000) at a latitude."""
    a, e2 = 6378137.0, 0.00669438002290
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    w = np.sqrt(1.0 - e2 * np.sin(phi) ** 2)
    per_lon = np.pi / 180.0 * a * np.cos(phi) / w
    per_lat = np.pi / 180.0 * a * (1.0 - e2) / w**3
    return per_lon, per_lat


def to_lonlat(
    x: FloatArray, y: FloatArray, lon0: FloatArray | float, lat0: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    """Local east/north metres around (lon0, lat0) to lon/lat; exact enough over a few km."""
    per_lon, per_lat = metres_per_degree(lat0)
    return lon0 + x / per_lon, lat0 + y / per_lat


def points_in(
    rng: np.random.Generator,
    polygon: shapely.Polygon | shapely.MultiPolygon,
    centre: tuple[float, float],
    sigma_m: float,
    n: int,
    avoid: shapely.Geometry | None = None,
) -> tuple[FloatArray, FloatArray]:
    """n lon/lat points clustered around centre (normal, sigma_m) that fall inside polygon."""
    shapely.prepare(polygon)
    per_lon, per_lat = metres_per_degree(centre[1])
    lons: list[FloatArray] = []
    lats: list[FloatArray] = []
    have, spread = 0, sigma_m
    while have < n:
        k = max(2 * (n - have), 16)
        lon = centre[0] + rng.normal(0.0, spread, k) / per_lon
        lat = centre[1] + rng.normal(0.0, spread, k) / per_lat
        keep = shapely.contains_xy(polygon, lon, lat)
        if avoid is not None:
            keep &= ~shapely.contains_xy(avoid, lon, lat)
        lons.append(lon[keep])
        lats.append(lat[keep])
        have += int(keep.sum())
        spread *= 0.8  # a seat near the coast loses many draws to the sea: pull in
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


def geodesic_areas(geoms: npt.NDArray[np.object_]) -> FloatArray:
    """Ellipsoidal area in m2 (CGCS2000) of lon/lat polygons, as TBMJ is defined."""
    return np.array([abs(GEOD.geometry_area_perimeter(g)[0]) for g in geoms], dtype=np.float64)


@cache
def _equal_area() -> Transformer:
    # Lambert azimuthal equal-area on CGCS2000's ellipsoid (GRS80), centred on the island:
    # areas on it are the ellipsoid's (the authalic latitude takes care of the flattening).
    return Transformer.from_crs(
        "EPSG:4490", "+proj=laea +lat_0=19.2 +lon_0=109.8 +ellps=GRS80 +units=m", always_xy=True
    )


def ellipsoidal_areas(geoms: npt.NDArray[np.object_]) -> FloatArray:
    """Ellipsoidal area in m2 of lon/lat polygons, all at once: geodesic_areas to 1e-9 for
    fields of a few hectares (straight edges on an equal-area map vs geodesic edges)."""
    ea = _equal_area()
    flat = shapely.transform(geoms, lambda xy: np.stack(ea.transform(xy[:, 0], xy[:, 1]), -1))
    return np.abs(np.asarray(shapely.area(flat), dtype=np.float64))
