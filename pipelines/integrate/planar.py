"""Planar building blocks of the base map: polygonal parts, disjoint pieces, interior overlaps.

Everything works on numpy arrays of shapely geometries so that it stays vectorised: only the
few shapes that actually overlap go through the (costlier) arrangement of their boundaries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

GeomArray = npt.NDArray[np.object_]
IndexArray = npt.NDArray[np.intp]
_THREADS = 1  # see `threads`
SPLIT_BELOW = 2_000  # rows under which a call is not split: a thread costs more than it saves
T = TypeVar("T")


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Within it, the element-wise shapely calls of the overlay (`elementwise`) run over `n`
    threads: for a build that runs alone while cores wait (one county's parcels sent again:
    its overlay is most of a resend's build, on one core of two). Never where builds run side
    by side (forked workers, Airflow's county tasks): they have the cores busy already."""
    global _THREADS
    before, _THREADS = _THREADS, max(1, n)
    try:
        yield
    finally:
        _THREADS = before


def elementwise(fn: Callable[..., Any], *arrays: npt.NDArray[Any], **kwargs: Any
                ) -> npt.NDArray[Any]:
    """`fn(*arrays, **kwargs)` for a shapely function that works row by row (along the first
    axis), the rows split over the threads `threads` allows. Shapely's vectorised functions
    release the GIL, so the threads run at once; each row's result is the one a single call
    gives, bit for bit (tests/unit/test_planar_threads.py)."""
    found = _over_threads(len(arrays[0]), lambda a, b: np.asarray(
        fn(*(x[a:b] for x in arrays), **kwargs)))
    return found[0] if len(found) == 1 else np.concatenate(found)


def query(tree: shapely.STRtree, geoms: GeomArray, predicate: str | None = None
          ) -> npt.NDArray[np.intp]:
    """`tree.query(geoms, predicate)`, its input rows split over the threads `threads`
    allows (as `elementwise`): shapely walks the tree and tests the predicate without the
    GIL, so the threads run at once (300 thousand boxes against themselves: 2.34 s on one
    thread, 1.27 s on two). Each row's hits are the ones a single call gives, in its order,
    and the rows come in input order as there, so the pairs are the same array
    (tests/unit/test_planar_threads.py). A predicate is tested on each input geometry,
    prepared for it (`geoms` must not hold one prepared geometry in several rows: GEOS
    fills a prepared geometry's indexes on first use, which two threads must not share)."""
    tree.query(shapely.points(0.0, 0.0))  # GEOS builds a tree on its first query: now

    def part(a: int, b: int) -> npt.NDArray[np.intp]:
        found = np.asarray(tree.query(geoms[a:b], predicate=predicate))
        found[0] += a  # the input rows, numbered as in the whole array
        return found

    found = _over_threads(len(geoms), part)
    return found[0] if len(found) == 1 else np.concatenate(found, axis=1)


def _over_threads(rows: int, part: Callable[[int, int], T]) -> list[T]:
    """`part(start, stop)` over consecutive slices of `rows` rows, one per thread `threads`
    allows, in row order; one call over them all where that is one thread or too few rows."""
    n = _THREADS
    if n <= 1 or rows < SPLIT_BELOW:
        return [part(0, rows)]
    cuts = np.linspace(0, rows, n + 1).astype(int).tolist()
    # a pool per call: one made once would not survive the fork of the builds' workers
    with ThreadPoolExecutor(n, thread_name_prefix="yitu-shapely") as pool:
        return list(pool.map(part, cuts[:-1], cuts[1:]))


_POLYGON, _MULTI_POLYGON, _COLLECTION = 3, 6, 7
INTERIORS_SHARE_AREA = "2********"  # DE-9IM: the interiors meet in a two-dimensional set


def polygonal(geoms: GeomArray) -> GeomArray:
    """Each geometry's polygonal parts as one MultiPolygon, None where it has none.

    Shapes that merely touch meet in lines and points, which carry no area and would only
    give analysts empty-looking rows (and a mixed geometry type) in a polygon layer.
    """
    parts = np.asarray(geoms, dtype=object)
    index = np.arange(len(parts))
    types = shapely.get_type_id(parts)
    while ((types == _MULTI_POLYGON) | (types == _COLLECTION)).any():
        parts, sub = shapely.get_parts(parts, return_index=True)
        index = index[sub]
        types = shapely.get_type_id(parts)
    keep = (types == _POLYGON) & ~shapely.is_empty(parts)
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=index[keep], out=out)
    return out


def interior_overlaps(geoms: GeomArray) -> tuple[IndexArray, IndexArray]:
    """Pairs (i < j) of shapes whose interiors share area; touching along an edge is fine."""
    if len(geoms) < 2:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty
    i, j = query(shapely.STRtree(geoms), geoms, predicate="intersects")
    ordered = i < j
    i, j = i[ordered], j[ordered]
    shared = elementwise(shapely.relate_pattern, geoms[i], geoms[j],
                         pattern=INTERIORS_SHARE_AREA)
    return i[shared].astype(np.intp), j[shared].astype(np.intp)


Pairs = tuple[IndexArray, IndexArray]


def disjoint_pieces(ids: npt.NDArray[np.object_], geoms: GeomArray,
                    overlaps: Pairs | None = None) -> pd.DataFrame:
    """Shapes of one layer cut into disjoint pieces, each with the sorted ids covering it.

    A shape that overlaps no other stays whole. Overlapping shapes are cut along all their
    boundaries (the faces of the arrangement), so any depth of overlap, nesting or several
    polygons of one id come out right: each point of their union lies in exactly one piece.
    Returns columns `ids` (tuple of str) and `geometry`. `overlaps`: the shapes'
    `interior_overlaps`, when the caller has them already.
    """
    ids = np.asarray(ids, dtype=object)
    i, j = interior_overlaps(geoms) if overlaps is None else overlaps
    tangled = np.zeros(len(geoms), dtype=bool)
    tangled[i] = True
    tangled[j] = True
    whole = pd.DataFrame({"ids": [(str(x),) for x in ids[~tangled]],
                          "geometry": geoms[~tangled]})
    if not tangled.any():
        return whole
    shapes, shape_ids = geoms[tangled], ids[tangled]
    edges = shapely.union_all(shapely.boundary(shapes))  # noded where boundaries cross
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(edges)))
    # A face's interior point lies inside exactly the shapes that cover the face; faces that
    # no shape covers (holes, gaps enclosed by a ring of shapes) get no row and are dropped.
    face, shape = query(shapely.STRtree(shapes), elementwise(shapely.point_on_surface, faces),
                        predicate="within")
    cover = (pd.DataFrame({"face": face, "id": shape_ids[shape].astype(str)})
             .drop_duplicates().sort_values(["face", "id"]))
    ids_of_face = cover.groupby("face", sort=True)["id"].agg(tuple)
    cut = pd.DataFrame({"ids": ids_of_face.to_numpy(),
                        "geometry": faces[ids_of_face.index.to_numpy()]})
    return pd.concat([whole, cut], ignore_index=True)


def union_overlay(left: GeomArray, right: GeomArray) -> tuple[IndexArray, IndexArray, GeomArray]:
    """The union overlay of two layers whose own shapes are disjoint (`disjoint_pieces`):
    (left index or -1, right index or -1, piece) for every piece of either layer.

    What `geopandas.overlay(how="union")` computes, vectorised: geopandas subtracts the
    overlapping shapes row by row through pandas, which took 70% of the integration at
    50k parcels and grows to many minutes at 1M. Here each step is one shapely call over all
    rows. The shapes overlapping one shape are unioned in a fixed order (by their bounds),
    so the same shapes give the same bits in every partition.
    """
    li, ri = query(shapely.STRtree(right), left, predicate="intersects")
    both = polygonal(elementwise(shapely.intersection, left[li], right[ri]))
    shared = pd.notna(both)  # touching along an edge or at a corner is no overlap
    li, ri, both = li[shared].astype(np.intp), ri[shared].astype(np.intp), both[shared]
    left_rest = _subtract(left, li, right, ri)
    right_rest = _subtract(right, ri, left, li)
    lk, rk = np.flatnonzero(pd.notna(left_rest)), np.flatnonzero(pd.notna(right_rest))
    none_l, none_r = np.full(len(rk), -1, dtype=np.intp), np.full(len(lk), -1, dtype=np.intp)
    return (np.concatenate([li, lk, none_l]).astype(np.intp),
            np.concatenate([ri, none_r, rk]).astype(np.intp),
            np.concatenate([both, left_rest[lk], right_rest[rk]]).astype(object))


def _subtract(shapes: GeomArray, mine: IndexArray, others: GeomArray,
              theirs: IndexArray) -> GeomArray:
    """Each shape minus the union of the others overlapping it (pairs `mine[k]`, `theirs[k]`).

    The others of one shape are unioned first (one `union_all` over a None-padded row per
    shape, rows grouped by size so one shape with thousands of neighbours does not pad every
    row), then subtracted once: subtracting them one by one re-nodes an ever more cut-up
    shape, quadratic in the neighbours a project has (20-30 parcels)."""
    rest = shapes.copy()
    if len(mine) == 0:
        return rest
    bounds = shapely.bounds(others[theirs])
    order = np.lexsort((bounds[:, 3], bounds[:, 2], bounds[:, 1], bounds[:, 0], mine))
    mine, theirs = mine[order], theirs[order]
    owners, starts, counts = np.unique(mine, return_index=True, return_counts=True)
    rank = np.arange(len(mine)) - np.repeat(starts, counts)
    row = np.repeat(np.arange(len(owners)), counts)
    size_class = np.ceil(np.log2(counts)).astype(int)
    for c in np.unique(size_class):
        rows = np.flatnonzero(size_class == c)
        at = np.isin(row, rows)
        padded = np.full((len(rows), int(counts[rows].max())), None, dtype=object)
        padded[np.searchsorted(rows, row[at]), rank[at]] = others[theirs[at]]
        cover = elementwise(shapely.union_all, padded, axis=1)
        rest[owners[rows]] = elementwise(shapely.difference, rest[owners[rows]], cover)
    return polygonal(rest)
