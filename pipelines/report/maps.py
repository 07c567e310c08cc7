"""A map preview of a published layer as inline SVG: simplified, at most MAX_FEATURES shapes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

MAX_FEATURES = 3000
WIDTH, MAX_HEIGHT = 520, 420
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948",
           "#ff9da7", "#9c755f", "#bab0ac")
RAMP = ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c")  # light = small, dark = large
NO_VALUE = "#cccccc"


@dataclass
class LayerMap:
    svg: str
    drawn: int
    total: int
    column: str | None = None
    legend: list[tuple[str, str]] = field(default_factory=list)  # (label, colour)


def colour_column(gdf: gpd.GeoDataFrame) -> str | None:
    """A class column with a handful of values, else the first measured quantity."""
    attrs = [c for c in gdf.columns if c != gdf.geometry.name]
    classes = {c: gdf[c].nunique() for c in attrs if pd.api.types.is_string_dtype(gdf[c])}
    classes = {c: n for c, n in classes.items() if 2 <= n <= len(PALETTE)}
    if classes:  # the fewest classes: a type, not an identifier that happens to repeat
        return str(min(classes, key=lambda c: classes[c]))
    return next((str(c) for c in attrs if pd.api.types.is_float_dtype(gdf[c])), None)


def _colours(values: pd.Series) -> tuple[list[str], list[tuple[str, str]]]:
    if pd.api.types.is_numeric_dtype(values):
        known = values.dropna()
        if known.empty:
            return [NO_VALUE] * len(values), []
        edges = np.unique(np.quantile(known, np.linspace(0, 1, len(RAMP) + 1)))
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(RAMP) - 1)
        colours = [NO_VALUE if pd.isna(v) else RAMP[b] for v, b in zip(values, bins, strict=True)]
        legend = [(f"{edges[i]:,.1f} – {edges[i + 1]:,.1f}", RAMP[i])
                  for i in range(len(edges) - 1)]
        return colours, legend
    classes = sorted(str(v) for v in values.dropna().unique())
    by_class = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(classes)}
    return ([NO_VALUE if pd.isna(v) else by_class[str(v)] for v in values],
            list(by_class.items()))


def _ring_path(coords: np.ndarray) -> str:
    pts = " L".join(f"{x:.1f} {y:.1f}" for x, y in coords)
    return f"M{pts}Z"


def _path_data(geom: shapely.Geometry) -> str:
    rings: list[str] = []
    for part in shapely.get_parts(geom):
        if isinstance(part, shapely.Polygon):
            rings += [_ring_path(np.asarray(r.coords)) for r in (part.exterior, *part.interiors)]
        elif isinstance(part, shapely.LineString):
            rings.append(_ring_path(np.asarray(part.coords))[:-1])
    return "".join(rings)


def layer_map(name: str, gdf: gpd.GeoDataFrame) -> LayerMap:
    total = len(gdf)
    shapes = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if len(shapes) > MAX_FEATURES:  # an even sample keeps the picture's spread
        shapes = shapes.iloc[:: math.ceil(len(shapes) / MAX_FEATURES)]
    title = f"{escape(name)}：{total} 个要素"
    if shapes.empty:
        return LayerMap(f"<svg xmlns='http://www.w3.org/2000/svg' class='map' width='{WIDTH}' "
                        f"height='40' role='img' aria-label='{title}'><text x='8' y='24'>"
                        "无几何</text></svg>", 0, total)
    x0, y0, x1, y1 = shapes.total_bounds
    # Degrees of longitude shrink with latitude: scale them so shapes keep their proportions.
    kx = math.cos(math.radians((y0 + y1) / 2)) if shapes.crs and shapes.crs.is_geographic else 1
    span_x, span_y = max((x1 - x0) * kx, 1e-9), max(y1 - y0, 1e-9)
    scale = min((WIDTH - 10) / span_x, (MAX_HEIGHT - 10) / span_y)
    height = math.ceil(span_y * scale) + 10

    def to_screen(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(((xy[:, 0] - x0) * kx * scale + 5, (y1 - xy[:, 1]) * scale + 5))

    geoms = shapely.transform(shapes.geometry.values, to_screen)
    geoms = shapely.simplify(geoms, 0.5, preserve_topology=True)  # half a pixel is invisible
    column = colour_column(shapes)
    colours, legend = (_colours(shapes[column]) if column
                       else (["#4e79a7"] * len(shapes), []))
    # Parcels under a pixel across vanish at region scale: outline them in their colour.
    x_min, y_min, x_max, y_max = shapely.bounds(geoms).T
    tiny = np.maximum(x_max - x_min, y_max - y_min) < 2
    body: list[str] = []
    for geom, colour, small in zip(geoms, colours, tiny, strict=True):
        if isinstance(geom, shapely.Point | shapely.MultiPoint):
            body += [f"<circle class='feature' cx='{p.x:.1f}' cy='{p.y:.1f}' r='2' "
                     f"fill='{colour}'/>" for p in shapely.get_parts(geom)]
        else:
            fill = "none" if isinstance(geom, shapely.LineString | shapely.MultiLineString) \
                else colour
            body.append(f"<path class='feature' d='{_path_data(geom)}' fill='{fill}' "
                        f"fill-rule='evenodd' stroke='{colour if small else '#555'}' "
                        f"stroke-width='{1.2 if small else 0.3}'/>")
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' class='map' width='{WIDTH}' "
           f"height='{height}' viewBox='0 0 {WIDTH} {height}' role='img' aria-label='{title}'>"
           f"<rect width='100%' height='100%' fill='#f8f8f4'/>{''.join(body)}</svg>")
    return LayerMap(svg, len(shapes), total, column, legend)
