"""Parcel outlines in block frames: inset quadrilaterals, cut corners, planted overlaps and
self-intersections. Everything is in metres; layout.Blocks turns it into lon/lat. Every
function works on all rings at once: (n, vertices, 2) arrays."""

from __future__ import annotations

import numpy as np
import shapely

from pipelines.sample.layout import Blocks, BoolArray, Cells, IntArray
from pipelines.sample.region import County, FloatArray

_UX = np.array([0.0, 1.0, 1.0, 0.0])  # corners BL, BR, TR, TL: counter-clockwise
_UY = np.array([0.0, 0.0, 1.0, 1.0])


def quads(rng: np.random.Generator, blocks: Blocks, cells: Cells) -> FloatArray:
    """(n, 4, 2) corners, each moved 2-7 % of the cell into it: ditches and field ridges."""
    n = cells.block.size
    x0, y0 = cells.origin(blocks)
    cw, ch = blocks.cw[cells.block][:, None], blocks.ch[cells.block][:, None]
    inset = rng.uniform(0.02, 0.07, (n, 4, 2))
    x = x0[:, None] + cw * (_UX + inset[..., 0] * (1.0 - 2.0 * _UX))
    y = y0[:, None] + ch * (_UY + inset[..., 1] * (1.0 - 2.0 * _UY))
    return np.stack([x, y], axis=-1)


def right_neighbour(cells: Cells) -> IntArray:
    """Index of the parcel in the next cell of the same row, or -1."""
    key = (cells.block * 1000 + cells.row) * 1000 + cells.col
    nxt = np.searchsorted(key, key + 1)  # cells are sorted by block, row, col
    nxt = np.minimum(nxt, key.size - 1)
    return np.where(key[nxt] == key + 1, nxt, -1).astype(np.int64)


def extend_into_right_neighbour(
    rng: np.random.Generator, corners: FloatArray, rows: IntArray, blocks: Blocks, cells: Cells
) -> None:
    """Push the right edge of each parcel 8-25 m (at full size) past its neighbour's left
    edge: a sliver overlap, the usual topology error between adjacent parcels. Changes
    corners in place."""
    x0, _ = cells.origin(blocks)
    cw = blocks.cw[cells.block]
    unit = blocks.unit[blocks.county[cells.block[rows]]]
    # The neighbour's left corners sit at most 7 % of a cell into its cell.
    edge = x0[rows] + cw[rows] * 1.09 + rng.uniform(8.0, 25.0, rows.size) * unit
    corners[rows, 1, 0] = edge
    corners[rows, 2, 0] = edge


def cut_corners(rng: np.random.Generator, rings: FloatArray) -> FloatArray:
    """Replace one corner of each quadrilateral (n, 4, 2) by two points on its edges:
    pentagons (n, 5, 2)."""
    n = rings.shape[0]
    rows = np.arange(n)[:, None]
    k: IntArray = np.asarray(rng.integers(0, 4, (n,)), dtype=np.int64)
    here = rings[rows[:, 0], k]
    prev, nxt = rings[rows[:, 0], (k - 1) % 4], rings[rows[:, 0], (k + 1) % 4]
    a = here + rng.uniform(0.15, 0.4, (n, 1)) * (prev - here)
    b = here + rng.uniform(0.15, 0.4, (n, 1)) * (nxt - here)
    pos = np.arange(5)[None, :]
    # output vertex p: ring[p] before the cut corner, then a, b, then ring[p - 1]
    src = np.where(pos < k[:, None], pos, np.maximum(pos - 1, 0))
    out = rings[rows, np.minimum(src, 3)]
    out[pos == k[:, None]] = a
    out[pos == k[:, None] + 1] = b
    return out


def corner_loops(rings: FloatArray) -> FloatArray:
    """Replace the first corner by two points 10 % along its edges, in crossed order: the
    ring runs to the point on the next edge, back to the one on the previous edge, then on.
    The two long segments cross near the corner (a small bow-tie, as from a digitising
    overshoot) for any convex corner; the area hardly changes, so only the geometry rule
    fails. (n, k, 2) -> (n, k + 1, 2)."""
    on_next = rings[:, 0] + 0.1 * (rings[:, 1] - rings[:, 0])
    on_prev = rings[:, 0] + 0.1 * (rings[:, -1] - rings[:, 0])
    return np.concatenate([on_next[:, None], on_prev[:, None], rings[:, 1:]], axis=1)


def bow_ties(rings: FloatArray) -> FloatArray:
    """Swap the last two corners: the classic bow-tie of two triangles."""
    return np.concatenate([rings[:, :-2], rings[:, -1:], rings[:, -2:-1]], axis=1)


def to_polygons(
    rings: FloatArray, block: IntArray, blocks: Blocks, counties: tuple[County, ...]
) -> np.ndarray:
    """lon/lat polygons for block-frame rings (n, k, 2), in input order."""
    out = np.empty(rings.shape[0], dtype=object)
    if rings.shape[0]:
        out[:] = shapely.polygons(blocks.to_lonlat(block, rings, counties))
    return out


def pick_overlap_pairs(
    rng: np.random.Generator, k: int, free: BoolArray, is_quad: BoolArray, cells: Cells
) -> tuple[IntArray, IntArray]:
    """k (parcel, right neighbour) pairs, all four-cornered and not yet used by any plant."""
    nb = right_neighbour(cells)
    ok = free & is_quad & (nb >= 0)
    ok[nb < 0] = False
    ok &= free[nb] & is_quad[nb]
    used = np.zeros(free.size, dtype=bool)
    left: list[int] = []
    for i in rng.permutation(np.flatnonzero(ok)).tolist():
        j = int(nb[i])
        if not used[i] and not used[j]:
            used[[i, j]] = True
            left.append(i)
            if len(left) == k:
                break
    chosen = np.array(sorted(left), dtype=np.int64)
    return chosen, nb[chosen]
