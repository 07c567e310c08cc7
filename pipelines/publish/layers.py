"""Publish: the layers of the layer contracts, typed and labelled, swapped in together."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial

import geopandas as gpd
import pandas as pd

from pipelines.contracts import LayerContract, all_layers, load_layer
from pipelines.failpoints import failpoint
from pipelines.geodesy import as_multipolygons
from pipelines.warehouse import Warehouse
from pipelines.warehouse.base import Layer, Parted, made
from pipelines.warehouse.pgcopy import geometry_kinds

# Column type -> pandas dtype. Nullable kinds, so a column has one type whatever the data: an
# all-null column stays a number column, a yes/no with an unknown stays boolean, and a layer
# published part by part (`Parted`) has the same column types and row hashes in every part
# as it has whole.
_DTYPES = {"integer": "Int64", "number": "float64", "boolean": "boolean",
           "datetime": "datetime64[ms]", "date": "datetime64[ms]"}


def layer_labels() -> dict[str, dict[str, str]]:
    """Per layer: "" -> title and column -> Chinese label (aliases and comments)."""
    return {layer.layer: layer.labels() for layer in all_layers()}


def analyst_types(name: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer's declared yes/no columns as booleans, whichever warehouse it was read back
    from (SQLite and some drivers hand back integers, objects and None)."""
    flags = [c for c in load_layer(name).columns_of_type("boolean") if c in gdf.columns]
    if not flags:
        return gdf
    gdf = gdf.copy()
    for c in flags:
        gdf[c] = gdf[c].astype("boolean")
    return gdf


def typed_frame(layer: LayerContract, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`gdf` typed by its layer's contract, as `publish_layers` types every layer: columns in
    the contract's order, their dtypes, the geometry kind. Typing a typed frame again gives
    the same values (its `row_hashes` stay; tests/unit/test_publish_typing.py)."""
    gdf = gdf.rename_geometry("geom") if gdf.geometry.name != "geom" else gdf
    missing = [c for c in layer.column_names if c not in gdf.columns]
    if missing and not len(gdf):  # a part with no rows need not have built every column
        gdf = gdf.assign(**{c: pd.Series([], dtype=object) for c in missing})
    elif missing:
        raise ValueError(f"{layer.layer}: columns {missing} of its contract were not built")
    gdf = gdf[[*layer.column_names, "geom"]]  # (copy on write: the given frame stays)
    for col in layer.columns:
        dtype = _DTYPES.get(col.type)
        values = gdf[col.name]
        if dtype is None or values.dtype == dtype:
            continue
        if col.type in ("integer", "number") and values.dtype == object:
            values = pd.to_numeric(values)
        elif col.type in ("datetime", "date") and values.dtype == object:
            values = pd.to_datetime(values)
        gdf[col.name] = values.astype(dtype)
    if layer.geometry == "MultiPolygon":
        gdf = gdf.set_geometry(as_multipolygons(gdf.geometry))
    kinds = geometry_kinds(gdf)
    if kinds - {layer.geometry}:
        raise ValueError(f"{layer.layer}: geometries of type {sorted(kinds)}, "
                         f"expected {layer.geometry}")
    return gdf


def _made_typed(layer: LayerContract, given: Layer) -> gpd.GeoDataFrame:
    return typed_frame(layer, made(given))


def _part_typed(layer: LayerContract, read: Callable[[str], gpd.GeoDataFrame],
                part: str) -> gpd.GeoDataFrame:
    return typed_frame(layer, read(part))


def typed_layer(layer: LayerContract, given: Layer) -> Layer:
    """`given` typed by its contract when it is made: a parted layer part by part, with its
    contract's geometry kind."""
    if isinstance(given, Parted):
        return replace(given, read=partial(_part_typed, layer, given.read),
                       geometry=layer.geometry)
    return partial(_made_typed, layer, given)


def kept_in_place(wh: Warehouse, unchanged: Iterable[str]) -> set[str]:
    """Those of the `unchanged` layers that `publish_layers` leaves as published: where the
    warehouse can publish some layers only, and they are published already."""
    return set(unchanged) & set(wh.published_layers()) if wh.publishes_some_layers else set()


def publish_layers(wh: Warehouse, layers: dict[str, Layer],
                   unchanged: Iterable[str] = ()) -> list[str]:
    """Type the layers by their contracts and swap them in together; the layers named in
    `unchanged` (equal to what is published, by the caller's knowledge) are left in place
    where the warehouse can publish some layers only. Returns the layers swapped in.

    `layers` is emptied: each layer is made (a function given for it is called), typed and
    let go in turn, in the warehouse's publish (a province's layers are the most a run
    holds)."""
    contracts = all_layers()
    missing = {c.layer for c in contracts} - set(layers)
    if missing:
        # Nothing is published half-built.
        raise ValueError(f"refusing to publish: layers missing {sorted(missing)}")
    keep = kept_in_place(wh, unchanged)
    typed: dict[str, Layer] = {}
    for c in contracts:
        given = layers.pop(c.layer)
        if c.layer not in keep:
            typed[c.layer] = typed_layer(c, given)
    swapped = list(typed)
    failpoint("publish.before_swap")
    wh.publish(typed, layer_labels())
    failpoint("publish.after_swap")
    return swapped
