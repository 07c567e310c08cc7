"""What each stage of a run cost: seconds, CPU seconds, rows and peak memory, recorded on the
drop (ledger notes, `yitu status --json`) and in the log, so a slow stage shows without a
profiler."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipelines.read import isolate

log = logging.getLogger(__name__)


def _cpu() -> float:
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    # readers parse hostile files in children of the forkserver, which report their own cost
    return (own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
            + isolate.CHILDREN["cpu_s"])


def peak_rss_mb() -> float:
    """The peak resident memory of this process, of any child it waited for, or of a reading
    child, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # Linux reports KiB
    return round(max(own / 1024, children / 1024, isolate.CHILDREN["peak_mb"]), 1)


class Stages:
    """Stage name -> {seconds, cpu_seconds, rows, peak_rss_mb}, in the order run."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.record: dict[str, dict[str, Any]] = {}

    @contextmanager
    def stage(self, name: str, rows: int | None = None) -> Iterator[dict[str, Any]]:
        """Time the block; the block may set `rows` on what it is given."""
        wall, cpu = time.perf_counter(), _cpu()
        entry: dict[str, Any] = {"rows": rows}
        try:
            yield entry
        finally:
            entry.update(seconds=round(time.perf_counter() - wall, 3),
                         cpu_seconds=round(_cpu() - cpu, 3), peak_rss_mb=peak_rss_mb())
            self.record[name] = entry
            log.info("%s: %s took %.2f s (%.2f CPU s), %s rows, peak %.0f MiB", self.subject,
                     name, entry["seconds"], entry["cpu_seconds"], entry["rows"],
                     entry["peak_rss_mb"])
