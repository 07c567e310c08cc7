"""Work-order parts kept as segments, so a day's delivery writes and publishes its own rows.

A county's `complaints_enriched` part is staged as one or more frames, its segments, each
named after the run that built it (`frame_of`: "complaints_enriched@<run>"). A run that
rebuilds the part from the context the published run built it from (`build_part`'s
`previous`) first reads only `ROW_COLUMNS` of each staged segment and keeps, as staged, every
segment all of whose rows are still its orders' rows, as they are (`carried`): the same source
row, its response results still holding at the run's `as_of`, each row the one of one order.
Only the other orders are built (enriched, or taken over from the segments not kept), into
one new segment. A day's work orders then decode, encode and publish the day's rows: the
segments kept are copied by the staging store unread, and publish knows them as published
already (a segment's rows never change: its name says which run built them).

A segment not kept (an order closed, a deadline passed) goes whole into the new segment,
and so do the smallest kept ones when a part would hold more than `MOST_SEGMENTS`: the
segments of a part stay few, each rewritten once in a while, never all on one day unless all
changed. A frame staged before segments ("complaints_enriched", no run) is never kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd

from pipelines.integrate import ROW_COLUMNS, taken_over
from pipelines.warehouse.base import SEGMENT

MOST_SEGMENTS = 8  # segments of one part, at most, after a run


def frame_of(layer: str, segment: str) -> str:
    """The staged frame of `layer`'s segment built by run `segment`."""
    return f"{layer}{SEGMENT}{segment}"


def split_frame(name: str) -> tuple[str, str]:
    """(layer, segment) of a staged frame's name; segment "" for a frame of no segment."""
    layer, _, segment = name.partition(SEGMENT)
    return layer, segment


def joined(frames: dict[str, gpd.GeoDataFrame]) -> dict[str, gpd.GeoDataFrame]:
    """A part's frames by layer: a layer's segments, in name order, as one frame."""
    by_layer: dict[str, list[gpd.GeoDataFrame]] = {}
    for name in sorted(frames):
        by_layer.setdefault(split_frame(name)[0], []).append(frames[name])
    out = {}
    for layer, found in by_layer.items():
        if len(found) == 1:
            out[layer] = found[0]
            continue
        rows = pd.concat(found, ignore_index=True)  # (read for some columns: no geometry)
        out[layer] = gpd.GeoDataFrame(rows, geometry="geom", crs=4490) \
            if "geom" in rows.columns else gpd.GeoDataFrame(rows)
    return out


class Carried(NamedTuple):
    """The segments a part keeps as staged (frame names), and per own order (in
    `Inputs.own` order) whether its row is in one of them: those orders are not built."""

    frames: tuple[str, ...]
    held: npt.NDArray[np.bool_]

    @property
    def rows(self) -> int:
        return int(self.held.sum())


def carried(heads: dict[str, pd.DataFrame], rows: npt.NDArray[np.uint64], as_of: datetime,
            most: int = MOST_SEGMENTS) -> Carried:
    """Which staged segments (`heads`: per segment frame, its `ROW_COLUMNS`) a part built at
    `as_of` from its orders (`rows`: their identities, `build_part`'s) keeps as they are:
    those whose every row is taken over by exactly one order and still holds. At most
    `most` - 1 are kept (the new segment is the last): the smallest go first."""
    names = [n for n in sorted(heads) if split_frame(n)[1] and len(heads[n])
             and set(ROW_COLUMNS) <= set(heads[n].columns)]
    none = Carried((), np.zeros(len(rows), dtype=bool))
    if not names or not len(rows):
        return none
    previous = pd.concat([heads[n][list(ROW_COLUMNS)] for n in names], ignore_index=True)
    segment = np.repeat(np.arange(len(names)), [len(heads[n]) for n in names])
    taken, holds = taken_over(previous, rows, as_of)
    use = (taken >= 0) & holds
    uses = np.bincount(taken[use], minlength=len(previous))
    clean = np.ones(len(names), dtype=bool)
    np.logical_and.at(clean, segment, uses == 1)  # each row the row of one order, holding
    sizes = np.bincount(segment, minlength=len(names))
    kept = [i for i in np.argsort(-sizes, kind="stable") if clean[i]][:max(most - 1, 0)]
    keep = np.zeros(len(names), dtype=bool)
    keep[kept] = True
    held = use & keep[segment[np.maximum(taken, 0)]]
    return Carried(tuple(n for i, n in enumerate(names) if keep[i]), held)
