"""A map preview of a published layer as inline SVG: simplified, at most MAX_FEATURES shapes,
county outlines on top, legend in the layer contract's Chinese."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.contracts import LayerContract

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


def colour_column(gdf: gpd.GeoDataFrame, contract: LayerContract | None = None) -> str | None:
    """The contract's class column, else its first measured quantity, yes/no flag or count;
    without a contract, a string column with a handful of values or the first float."""
    if contract is not None:
        if contract.class_column:
            return contract.class_column
        for kind in ("number", "boolean", "integer"):
            found = [c for c in contract.columns_of_type(kind) if c in gdf.columns]
            if found:
                return found[0]
        return None
    attrs = [c for c in gdf.columns if c != gdf.geometry.name]
    classes = {c: gdf[c].nunique() for c in attrs if pd.api.types.is_string_dtype(gdf[c])}
    classes = {c: n for c, n in classes.items() if 2 <= n <= len(PALETTE)}
    if classes:  # the fewest classes: a type, not an identifier that happens to repeat
        return str(min(classes, key=lambda c: classes[c]))
    return next((str(c) for c in attrs if pd.api.types.is_float_dtype(gdf[c])), None)


def _colours(values: pd.Series, contract: LayerContract | None
             ) -> tuple[list[str], list[tuple[str, str]]]:
    if contract is not None and contract.class_column == values.name:
        by_value = {c.value: (c.label, c.colour) for c in contract.classes}
        colours = [by_value[str(v)][1] if str(v) in by_value else NO_VALUE for v in values]
        return colours, list(by_value.values())
    if pd.api.types.is_bool_dtype(values) or values.dtype == object and values.notna().any() \
            and all(isinstance(v, bool | np.bool_) for v in values.dropna()):
        yes_no = {True: ("是", PALETTE[3]), False: ("否", PALETTE[0])}
        return ([NO_VALUE if pd.isna(v) else yes_no[bool(v)][1] for v in values],
                list(yes_no.values()))
    if pd.api.types.is_numeric_dtype(values):
        known = values.dropna()
        if known.empty:
            return [NO_VALUE] * len(values), []
        edges = np.unique(np.quantile(known, np.linspace(0, 1, len(RAMP) + 1)))
        bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(RAMP) - 1)
        colours = [NO_VALUE if pd.isna(v) else RAMP[b] for v, b in zip(values, bins, strict=True)]
        if len(edges) == 1:  # every feature has the same value: one class, named by it
            return colours, [(f"{edges[0]:,.1f}", RAMP[0])]
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


def _outlines(counties: gpd.GeoSeries, to_screen: Callable[[np.ndarray], np.ndarray]) -> str:
    """County boundaries over the features: where on the map a shape lies."""
    geoms = shapely.simplify(shapely.transform(counties.values, to_screen), 0.7,
                             preserve_topology=True)
    return "".join(f"<path class='county' d='{_path_data(g)}' fill='none' stroke='#333' "
                   "stroke-width='0.8'/>" for g in geoms if g is not None and not g.is_empty)


def layer_map(name: str, gdf: gpd.GeoDataFrame, counties: gpd.GeoSeries | None = None,
              contract: LayerContract | None = None, total: int | None = None) -> LayerMap:
    """The layer's shapes coloured by its class (or a measure), county outlines on top; the
    frame is the region's counties so every layer's preview lines up with the others. `total`:
    the layer's features when `gdf` is already a sample of them."""
    total = len(gdf) if total is None else total
    shapes = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    if len(shapes) > MAX_FEATURES:  # an even sample keeps the picture's spread
        shapes = shapes.iloc[:: math.ceil(len(shapes) / MAX_FEATURES)]
    title = f"{escape(name)}：{total} 个要素"
    frame = counties if counties is not None and not counties.empty else shapes.geometry
    if frame.empty:
        return LayerMap(f"<svg xmlns='http://www.w3.org/2000/svg' class='map' width='{WIDTH}' "
                        f"height='40' role='img' aria-label='{title}'><text x='8' y='24'>"
                        "无几何</text></svg>", 0, total)
    x0, y0, x1, y1 = frame.total_bounds
    if not shapes.empty:
        sx0, sy0, sx1, sy1 = shapes.total_bounds
        x0, y0, x1, y1 = min(x0, sx0), min(y0, sy0), max(x1, sx1), max(y1, sy1)
    # Degrees of longitude shrink with latitude: scale them so shapes keep their proportions.
    kx = math.cos(math.radians((y0 + y1) / 2)) if frame.crs and frame.crs.is_geographic else 1
    span_x, span_y = max((x1 - x0) * kx, 1e-9), max(y1 - y0, 1e-9)
    scale = min((WIDTH - 10) / span_x, (MAX_HEIGHT - 10) / span_y)
    height = math.ceil(span_y * scale) + 10

    def to_screen(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(((xy[:, 0] - x0) * kx * scale + 5, (y1 - xy[:, 1]) * scale + 5))

    geoms = shapely.transform(shapes.geometry.values, to_screen)
    geoms = shapely.simplify(geoms, 0.5, preserve_topology=True)  # half a pixel is invisible
    column = colour_column(shapes, contract)
    colours, legend = (_colours(shapes[column], contract) if column and not shapes.empty
                       else (["#4e79a7"] * len(shapes),
                             [(contract.title if contract else name, "#4e79a7")]))
    # Parcels under a pixel across vanish at region scale: outline them in their colour.
    bounds = np.asarray(shapely.bounds(geoms)).reshape(-1, 4)
    tiny = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) < 2
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
    if counties is not None and not counties.empty:
        body.append(_outlines(counties, to_screen))
    svg = (f"<svg xmlns='http://www.w3.org/2000/svg' class='map' width='{WIDTH}' "
           f"height='{height}' viewBox='0 0 {WIDTH} {height}' role='img' aria-label='{title}'>"
           f"<rect width='100%' height='100%' fill='#f8f8f4'/>{''.join(body)}</svg>")
    return LayerMap(svg, len(shapes), total, column, legend)
