"""What each stage of a run cost: seconds, CPU seconds, rows and peak memory, recorded on the
drop (ledger notes, `yitu status --json`) and in the log, so a slow stage shows without a
profiler."""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterator
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


# Told of every stage as it ends: its name, what it cost, and the exception it ended with.
StageSink = Callable[[str, dict[str, Any], BaseException | None], None]


class Stages:
    """Stage name -> {seconds, cpu_seconds, rows, peak_rss_mb}, in the order run; each stage
    is also handed to `sink` as it ends (the integration runs' ledger, `runlog`)."""

    def __init__(self, subject: str, sink: StageSink | None = None) -> None:
        self.subject = subject
        self.record: dict[str, dict[str, Any]] = {}
        self.sink = sink

    @contextmanager
    def stage(self, name: str, rows: int | None = None) -> Iterator[dict[str, Any]]:
        """Time the block; the block may set `rows` on what it is given."""
        wall, cpu = time.perf_counter(), _cpu()
        entry: dict[str, Any] = {"rows": rows}
        error: BaseException | None = None
        try:
            yield entry
        except BaseException as exc:
            error = exc
            raise
        finally:
            entry.update(seconds=round(time.perf_counter() - wall, 3),
                         cpu_seconds=round(_cpu() - cpu, 3), peak_rss_mb=peak_rss_mb())
            self.record[name] = entry
            log.info("%s: %s took %.2f s (%.2f CPU s), %s rows, peak %.0f MiB%s", self.subject,
                     name, entry["seconds"], entry["cpu_seconds"], entry["rows"],
                     entry["peak_rss_mb"], f", failed: {type(error).__name__}" if error else "")
            if self.sink is not None:
                self.sink(name, entry, error)


def stage_table(rows: list[dict[str, Any]]) -> list[str]:
    """Stages as a table a person reads (the task logs, `yitu status`): one line each, with
    seconds, CPU seconds, rows, peak memory and which task, host and pid ran it."""
    lines = [f"  {'stage':15} {'county':9} {'seconds':>8} {'CPU s':>8} {'rows':>9} "
             f"{'peak MiB':>8}  task @ host/pid"]
    for r in rows:
        n = "" if r.get("rows") is None else str(r["rows"])
        lines.append(f"  {r['stage']:15} {r.get('county') or '':9} {r['seconds']:8.2f} "
                     f"{r['cpu_seconds']:8.2f} {n:>9} {r['peak_rss_mib']:8.0f}  "
                     f"{r.get('task') or ''} @ {r.get('host') or ''}/{r.get('pid') or ''}"
                     + (f"  FAILED: {r['error']}" if r.get("error") else ""))
    if len(rows) > 1:
        lines.append(f"  {'sum':15} {'':9} {sum(r['seconds'] for r in rows):8.2f} "
                     f"{sum(r['cpu_seconds'] for r in rows):8.2f}")
    return lines
