"""The multiset difference publish by difference is planned with
(`pipelines.publish.difference.difference`), against a plain reference: the k-th published
row of a hash matches the k-th new row of the same hash."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest

from pipelines.publish.difference import difference


def _reference(fids: np.ndarray, old: np.ndarray, new: np.ndarray
               ) -> tuple[set[int], set[int], int]:
    """(fids deleted, new positions inserted, rows kept), one hash at a time."""
    olds: dict[tuple[int, int], list[int]] = defaultdict(list)
    news: dict[tuple[int, int], list[int]] = defaultdict(list)
    for f, h in zip(fids, old, strict=True):
        olds[(int(h[0]), int(h[1]))].append(int(f))
    for i, h in enumerate(new):
        news[(int(h[0]), int(h[1]))].append(i)
    deleted, inserted, kept = set(), set(), 0
    for key in olds.keys() | news.keys():
        o, n = olds.get(key, []), news.get(key, [])
        kept += min(len(o), len(n))
        deleted |= set(o[len(n):])
        inserted |= set(n[len(o):])
    return deleted, inserted, kept


@pytest.mark.parametrize("seed", range(12))
def test_the_difference_matches_rows_as_a_multiset(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # few distinct hashes, so rows repeat; h1 alike with h2 apart, and the reverse
    pool = rng.integers(-2**63, 2**63 - 1, size=(12, 2), dtype=np.int64)
    pool[1, 0] = pool[0, 0]
    pool[2, 1] = pool[0, 1]
    old = pool[rng.integers(0, len(pool), size=int(rng.integers(0, 60)))]
    new = pool[rng.integers(0, len(pool), size=int(rng.integers(0, 60)))]
    fids = rng.permutation(1000)[:len(old)].astype(np.int64) + 1
    got = difference(fids, old, new)
    deleted, inserted, kept = _reference(fids, old, new)
    assert set(got.delete.tolist()) == deleted and len(got.delete) == len(deleted)
    assert set(got.insert.tolist()) == inserted and len(got.insert) == len(inserted)
    assert got.kept == kept
    assert list(got.delete) == sorted(got.delete) and list(got.insert) == sorted(got.insert)
    # what stays and what comes is the new layer, row for row
    stays = Counter(map(tuple, old[~np.isin(fids, got.delete)]))
    assert stays + Counter(map(tuple, new[got.insert])) == Counter(map(tuple, new))


def test_nothing_against_nothing() -> None:
    empty = np.zeros((0, 2), dtype=np.int64)
    got = difference(np.zeros(0, dtype=np.int64), empty, empty)
    assert (len(got.delete), len(got.insert), got.kept) == (0, 0, 0)


def test_row_hashes_tell_a_missing_text_from_any_text_whatever_the_dtype() -> None:
    import geopandas as gpd
    import pandas as pd
    import shapely

    from pipelines.publish.difference import row_hashes

    texts = [None, "None", "<NA>", "", "nan", "名"]
    frame = gpd.GeoDataFrame({"t": pd.Series(texts, dtype=object),
                              "n": pd.array([None, 0, 1, 2, 3, 4], dtype="Int64")},
                             geometry=[shapely.Point(110, 20)] * 6, crs=4490)
    hashes = row_hashes(frame)
    assert len({tuple(h) for h in hashes.tolist()}) == 6
    # text held as Python objects or as Arrow strings hashes alike
    arrow = frame.assign(t=frame["t"].astype("string[pyarrow]"))
    assert np.array_equal(row_hashes(arrow), hashes)
    # a missing number is not 0, another geometry is another row, and every column counts
    assert not np.array_equal(row_hashes(frame.assign(n=pd.array([0] * 6, dtype="Int64")))[0],
                              hashes[0])
    moved = frame.set_geometry([shapely.Point(110, 21)] * 6)
    assert not (row_hashes(moved) == hashes).all(axis=1).any()
    assert not (row_hashes(frame.assign(t="x"))[1:] == hashes[1:]).all(axis=1).any()
    # the two halves are hashes under two keys, not one hash twice
    assert not np.array_equal(hashes[:, 0], hashes[:, 1])
