"""Bookkeeping for planted problems: each row carries at most one, so counts are exact."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def share(n: int, fraction: float) -> int:
    """How many rows get a problem: a fixed share of n, at least one."""
    return max(1, round(n * fraction))


class RowPicker:
    """Hands out rows that carry no planted problem yet and marks them as taken."""

    def __init__(self, rng: np.random.Generator, n: int) -> None:
        self.rng = rng
        self.taken: BoolArray = np.zeros(n, dtype=bool)

    def take(self, k: int, eligible: BoolArray | None = None) -> IntArray:
        free = ~self.taken if eligible is None else ~self.taken & eligible
        pool = np.flatnonzero(free)
        if pool.size < k:
            raise ValueError(f"only {pool.size} rows left to plant {k} problems on")
        chosen = np.sort(self.rng.choice(pool, size=k, replace=False)).astype(np.int64)
        self.taken[chosen] = True
        return chosen

    def mark(self, rows: IntArray) -> None:
        self.taken[rows] = True

    @property
    def free(self) -> BoolArray:
        return ~self.taken
