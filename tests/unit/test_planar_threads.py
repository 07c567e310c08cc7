"""The overlay's element-wise shapely calls split over threads (`planar.threads`): the same
bits as one call, each row where it was, and threads only where asked for."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import shapely

from pipelines.integrate import planar


def _shapes(n: int, seed: int, shift: float = 0.0) -> planar.GeomArray:
    """`n` squares and slivers that overlap their neighbours, some with holes."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 60, n) + shift, rng.uniform(0, 60, n)
    size = rng.uniform(0.5, 3, n)
    boxes = shapely.box(x, y, x + size, y + size * rng.uniform(0.2, 1.5, n))
    holed = rng.random(n) < 0.2
    boxes[holed] = shapely.difference(boxes[holed],
                                      shapely.buffer(shapely.centroid(boxes[holed]), 0.1))
    return np.asarray(boxes, dtype=object)


def _wkb(values: npt.NDArray[np.object_]) -> list[bytes | None]:
    return list(shapely.to_wkb(values))


def test_rows_are_split_over_the_threads_and_kept_in_order() -> None:
    seen: set[int] = set()
    together: list[threading.Barrier] = []  # when set, every thread waits for the others

    def probe(a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        seen.add(threading.get_ident())
        for barrier in together:
            barrier.wait(timeout=10)  # (broken, and the test fails, unless all run at once)
        return a * 10 + b

    a, b = np.arange(5_000), np.arange(5_000) % 7
    assert list(planar.elementwise(probe, a, b)) == list(a * 10 + b)
    assert seen == {threading.get_ident()}  # not asked for: this thread only
    seen.clear()
    with planar.threads(3):
        with planar.threads(1):  # an inner build that must not split
            planar.elementwise(probe, a, b)
            assert seen == {threading.get_ident()}
        seen.clear()
        together.append(threading.Barrier(3))
        assert list(planar.elementwise(probe, a, b)) == list(a * 10 + b)
        assert len(seen) == 3 and threading.get_ident() not in seen
        together.clear()
        seen.clear()
        planar.elementwise(probe, a[:10], b[:10])  # too few rows to be worth a thread
        assert seen == {threading.get_ident()}
    assert planar._THREADS == 1


def test_the_overlay_gives_the_same_bits_over_threads() -> None:
    left, right = _shapes(6_000, 1), _shapes(5_000, 2, shift=0.3)
    alone = planar.union_overlay(left, right)
    overlaps = planar.interior_overlaps(left)
    with planar.threads(2):
        split = planar.union_overlay(left, right)
        split_overlaps = planar.interior_overlaps(left)
    assert len(alone[2]) > 10_000  # many pieces: every call was split
    np.testing.assert_array_equal(alone[0], split[0])
    np.testing.assert_array_equal(alone[1], split[1])
    assert _wkb(alone[2]) == _wkb(split[2])
    np.testing.assert_array_equal(overlaps[0], split_overlaps[0])
    np.testing.assert_array_equal(overlaps[1], split_overlaps[1])


def test_tree_queries_give_the_same_pairs_over_threads() -> None:
    shapes, probes = _shapes(6_000, 3), _shapes(5_000, 4, shift=0.2)
    tree = shapely.STRtree(shapes)
    for predicate in (None, "intersects", "within"):
        alone = planar.query(tree, probes, predicate=predicate)
        with planar.threads(3):
            fresh = shapely.STRtree(shapes)  # its first query, split: the tree built once
            split = planar.query(fresh, probes, predicate=predicate)
        np.testing.assert_array_equal(alone, split)
        np.testing.assert_array_equal(alone, tree.query(probes, predicate=predicate))
        assert split.shape[1] > 5_000 if predicate != "within" else split.shape[1] > 0
