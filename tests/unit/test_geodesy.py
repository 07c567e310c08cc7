"""Ellipsoidal areas (`geodesy.ellipsoidal_area_m2`) against pyproj's own measure of each
shape (`Geod.geometry_area_perimeter`), for parcels, holes, multi-part shapes and what is
not a polygon."""

from __future__ import annotations

import numpy as np
import shapely

from pipelines import geodesy
from pipelines.geodesy import GEOD, ellipsoidal_area_m2


def _shapes() -> np.ndarray:
    rng = np.random.default_rng(3)
    x, y = rng.uniform(108.7, 111.0, 300), rng.uniform(18.2, 20.1, 300)
    size = rng.uniform(0.0002, 0.01, 300)
    boxes = shapely.box(x, y, x + size, y + size * 0.7)
    holed = [shapely.Polygon(b.exterior.coords, [shapely.box(
        bx + s / 4, by + s / 6, bx + s / 2, by + s / 3).exterior.coords])
        for b, bx, by, s in zip(boxes[:50], x[:50], y[:50], size[:50], strict=True)]
    multi = [shapely.MultiPolygon([a, b]) for a, b in zip(boxes[50:100], boxes[100:150],
                                                           strict=True)]
    # clockwise rings, a circle of many vertices, and what has no area
    turned = [shapely.Polygon(list(b.exterior.coords)[::-1]) for b in boxes[150:200]]
    circle = shapely.Point(110, 19).buffer(0.05, 256)
    other = [None, shapely.Polygon(), shapely.Point(110, 19),
             shapely.LineString([(110, 19), (110.1, 19.1)])]
    return np.array([*boxes[200:], *holed, *multi, *turned, circle, *other], dtype=object)


def test_areas_equal_pyproj_per_shape() -> None:
    shapes = _shapes()
    got = ellipsoidal_area_m2(shapes)
    for shape, area in zip(shapes, got, strict=True):
        if shape is None or shape.is_empty:
            assert np.isnan(area)
        elif shape.geom_type in ("Point", "LineString"):
            assert area == 0.0
        else:  # pyproj's signed sum: outer rings counter-clockwise, holes clockwise
            want = abs(GEOD.geometry_area_perimeter(shapely.geometry.polygon.orient(
                shape) if shape.geom_type == "Polygon" else shapely.MultiPolygon(
                [shapely.geometry.polygon.orient(p) for p in shape.geoms]))[0])
            assert abs(area - want) <= 1e-6 * want, (shape.wkt[:60], area, want)


def test_the_ring_measure_gives_the_public_method_s_figures() -> None:
    """The Cython method called without pyproj's copy of each ring: same figures, bit for
    bit, as the public method."""
    shapes = _shapes()
    direct = ellipsoidal_area_m2(shapes)
    measure = geodesy._ring_measure
    try:
        geodesy._ring_measure = lambda: GEOD.polygon_area_perimeter  # type: ignore[assignment]
        public = ellipsoidal_area_m2(shapes)
    finally:
        geodesy._ring_measure = measure
    assert np.array_equal(direct, public, equal_nan=True)


def test_polygon_area_and_perimeter_are_pyproj_s_bit_for_bit() -> None:
    """Per polygon (shells either way round, holes, two holes, a circle), what pyproj's
    `geometry_area_perimeter` gives it: the same floats, not merely close ones."""
    shapes = _shapes()
    polys = shapely.get_parts(np.array([s for s in shapes if s is not None and s.geom_type in (
        "Polygon", "MultiPolygon") and not s.is_empty], dtype=object))
    two_holes = shapely.Polygon(shapely.box(110, 19, 110.01, 19.01).exterior.coords, [
        shapely.box(110.001, 19.001, 110.002, 19.002).exterior.coords,
        shapely.box(110.005, 19.005, 110.0071, 19.0063).exterior.coords[::-1]])
    polys = np.array([*polys, two_holes, shapely.Polygon()], dtype=object)
    area, perimeter = geodesy.polygon_area_perimeter(polys)
    want = [GEOD.geometry_area_perimeter(p) if not p.is_empty else (0.0, 0.0) for p in polys]
    assert [float(a) for a in area] == [w[0] for w in want]
    assert [float(p) for p in perimeter] == [w[1] for w in want]
    assert geodesy.polygon_area_perimeter(np.array([], dtype=object))[0].shape == (0,)
