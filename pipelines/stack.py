"""Python 3.11's frame stack, kept from thrashing.

CPython keeps the frames of Python calls on a stack of its own per thread, made of chunks
(16 KiB each, mapped with mmap), and unmaps a chunk as soon as the frame at its start returns.
A loop that calls functions at exactly the depth where a chunk ends maps and unmaps a chunk
on every call: four page faults and two system calls each time (CPython gh-142183, fixed in
3.13 by keeping one chunk aside). Where the boundary falls depends on every frame below, so the
same code thrashes under one caller and not another: an Airflow task, which runs beneath
Celery's, the Task SDK's and the operator's frames, validated each county's parcels with some
33,000 page faults and 0.2 s of system time more than `yitu run` did (680,000 mmap/munmap
pairs for a province's parcels).

`roomy(fn, ...)` calls `fn` from a frame that reserves 70,000 slots: no chunk has room for it,
so CPython maps one of 1 MiB (the next power of two above its size and 1,000 slots of
overhead) and stacks the frames `fn` calls in the ~460 KiB left behind it. No chunk boundary
lies within about a thousand frames of depth, and the chunk lives as long as the call.
(co_stacksize is only what a frame reserves: the function does the same with a larger one.)
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")
SLOTS = 70_000


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return fn(*args, **kwargs)


_ROOMY = types.FunctionType(_call.__code__.replace(co_stacksize=SLOTS), _call.__globals__,
                            "roomy_call")


def roomy(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args, **kwargs)` with a frame stack that has room for it (see above)."""
    result: R = _ROOMY(fn, args, kwargs)
    return result
