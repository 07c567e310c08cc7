"""`roomy`: calls made at any depth below it cross no chunk boundary of Python's frame stack."""

from __future__ import annotations

import resource
import sys

from pipelines.stack import roomy

CALLS = 2000


def _leaf() -> int:
    return 1


def _at(depth: int) -> None:
    if depth:
        return _at(depth - 1)
    for _ in range(CALLS):
        _leaf()
    return None


def _thrashing_depths() -> list[int]:
    """Depths at which a loop of calls maps a chunk of the stack each time: a page fault
    (at least) per call, where a loop in a chunk's middle has none."""
    found = []
    for depth in range(400):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        _at(depth)
        if resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before > CALLS // 2:
            found.append(depth)
    return found


def test_no_depth_below_a_roomy_call_thrashes() -> None:
    if sys.version_info < (3, 13):  # CPython gh-142183, what `roomy` is for
        assert _thrashing_depths(), "no chunk boundary found: the test would prove nothing"
    assert roomy(_thrashing_depths) == []


def test_roomy_passes_arguments_and_the_result_through() -> None:
    assert roomy(divmod, 17, 5) == (3, 2)
    assert roomy(sorted, [3, 1, 2], reverse=True) == [3, 2, 1]
