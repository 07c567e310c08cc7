"""One `yitu run` on several cores (`--jobs N`, `YITU_JOBS`): the drops of different datasets
answered side by side, and the counties of an integration run built side by side.

The workers are forked from the run's process, so they inherit what it holds: the imports (the
geo stack, the pipeline, Great Expectations: seconds of CPU each, paid once) and, for the
integration, the run's inputs, read once by the parent and never pickled. Each worker opens its
own warehouse connection (a connection is never shared across a fork) and, when it reads a
file, starts its own reading forkserver: the parent starts none when it hands drops to workers,
because a forkserver belongs to the process that started it.

What may run side by side is decided by the same rules as one process: the counties' drops
first (the other datasets are placed on them), then each dataset's drops in the order received,
under the dataset's lock, one dataset per worker at a time; partitions of a run are independent
by construction (each writes its own staged part). The Airflow route gets the same from its
workers; this is the command line's way to use the machine it runs on.

concurrent.futures' process pool rather than multiprocessing.Pool: the latter's workers are
daemonic, and a daemonic process may not start the reading child that keeps a hostile file
away from the run (`pipelines.read.isolate` would parse in-process).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TypeVar

from pipelines.read import isolate

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger(__name__)


def default_jobs() -> int:
    """`YITU_JOBS`, else 1: one process, as before (a deployment opts in)."""
    raw = os.environ.get("YITU_JOBS", "").strip()
    if not raw:
        return 1
    if raw == "auto":
        return os.cpu_count() or 1
    return max(1, int(raw))


def forked_map(fn: Callable[[T], R], items: Sequence[T], jobs: int,
               started: Callable[[], None] | None = None) -> list[R]:
    """`fn(item)` for each item, in up to `jobs` processes forked from this one, taken as
    workers come free (give the largest items first); results in the order of `items`. One
    job: here, in this process; more: always in workers, even for one item (the caller may
    rely on this process not starting what a worker starts). An exception in a worker is
    raised here. `started` is called once every worker is forked (with one job: first): from
    then on this process may start threads of its own, which no worker inherits."""
    if jobs <= 1 or not items:
        if started is not None:
            started()
        return [fn(item) for item in items]
    workers = min(jobs, len(items))
    log.info("%d forked worker(s) for %d item(s)", workers, len(items))
    # Out of the collector's sight while the workers run, as the Celery workers' preload does:
    # a collection in a worker would otherwise walk (and so copy) every inherited object.
    gc.freeze()
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                 initializer=isolate.after_fork) as pool:
            # a fork pool forks all its workers at the first submit (CPython 3.11's
            # `_launch_processes`): every one exists once the items are submitted
            futures = [pool.submit(fn, item) for item in items]
            if started is not None:
                started()
            return [f.result() for f in futures]
    finally:
        gc.unfreeze()


class Aside:
    """`fn(item)` in a process forked now, run when told (`go`) while this one goes on, for
    work that leaves its result in the warehouse. Forked before this process starts threads
    of its own (see `forked_map`'s `started`), so it inherits none of their locks; a process,
    not a thread, because this one forks workers of its own later (`forked_map`). Fork it
    with no database connection open: one it inherited would outlive this process if it
    were killed, and with it the transaction this process had open and its locks."""

    def __init__(self, fn: Callable[[T], None], item: T) -> None:
        context = multiprocessing.get_context("fork")
        listen, self._tell = context.Pipe(duplex=False)
        self._told = False
        self._process: BaseProcess = context.Process(
            target=_when_told, args=(listen, self._tell, os.getpid(), fn, item),
            name=f"yitu-{fn.__name__}")
        self._process.start()
        listen.close()

    def go(self) -> None:
        with contextlib.suppress(OSError):  # (gone already: `join` gives its exit code)
            self._tell.send(True)
        self._told = True

    def join(self) -> int | None:
        """Wait for it (never told to go: it stops); its exit code. Called again (from any
        thread, one at a time): waits likewise, the same exit code."""
        with contextlib.suppress(OSError):
            if not self._told:
                self._tell.send(False)
            self._tell.close()
        self._process.join()
        return self._process.exitcode


def _when_told(listen: Connection, tell: Connection, parent: int,
               fn: Callable[[T], None], item: T) -> None:
    """Wait for the word, and stop if the parent dies first (killed: it says nothing, and
    the workers it forked later hold its end of the pipe, so no end of file comes)."""
    isolate.after_fork()
    tell.close()
    try:
        while not listen.poll(1.0):
            if os.getppid() != parent:
                return
        go = listen.recv()
    except EOFError:
        return
    if go:
        fn(item)
