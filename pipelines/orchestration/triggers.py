"""The triggerer side of "ingest is triggered by drops": an AssetWatcher trigger per dataset.

Runs inside `airflow triggerer` (asyncio, no worker slot held). Keep module-level imports
light: the DAG file imports this module at parse time to build the AssetWatcher.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

POLL_ENV = "YITU_LANDING_POLL_SECONDS"
DEFAULT_POLL_SECONDS = 15.0
Fingerprint = tuple[int, int]  # size, mtime in ns: a re-sent file of the same name differs


def ready_in_landing(folder: Path) -> dict[str, Fingerprint]:
    """The files of a landing folder that the landing protocol calls ready, by name."""
    from pipelines.landing.drops import ready_files, refused_entries  # one definition of "ready"

    if not folder.is_dir():
        return {}
    out: dict[str, Fingerprint] = {}
    # A link or FIFO starts a run too: it is answered (refused), never left unanswered.
    for path in [*ready_files(folder, time.time()), *refused_entries(folder)]:
        try:
            st = path.lstat()
        except FileNotFoundError:  # taken by an ingest run between listing and stat
            continue
        out[path.name] = (st.st_size, st.st_mtime_ns)
    return out


def new_arrivals(announced: dict[str, Fingerprint],
                 ready: dict[str, Fingerprint]) -> list[str]:
    """Ready files not yet announced as they are now: each drop fires once, not every poll."""
    return sorted(name for name, fp in ready.items() if announced.get(name) != fp)


class LandingDropTrigger(BaseEventTrigger):
    """Fires once for each file that becomes ready in `landing/<dataset>/` (a `.ready` marker,
    `yitu drop`, or a file left unchanged long enough).

    It only watches; the ingest DAG it schedules archives and loads the files. A file still
    waiting in landing is not announced twice by the same trigger; after a triggerer restart
    it is announced once more, which the ingest DAG answers as a no-op (ledger by sha256).
    """

    def __init__(self, dataset: str, poll_seconds: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.poll_seconds = poll_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"dataset": self.dataset, "poll_seconds": self.poll_seconds})

    def _interval(self) -> float:
        # A kwarg pins it per DAG; otherwise the triggerer's environment decides (tests poll fast).
        if self.poll_seconds is not None:
            return float(self.poll_seconds)
        return float(os.environ.get(POLL_ENV, DEFAULT_POLL_SECONDS))

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from pipelines.config import settings

        folder = settings().landing / self.dataset
        interval = self._interval()
        self.log.info("watching %s for ready drops every %.1fs", folder, interval)
        announced: dict[str, Fingerprint] = {}
        while True:
            # Listing a folder blocks; a thread keeps the triggerer's event loop free.
            ready = await asyncio.to_thread(ready_in_landing, folder)
            arrived = new_arrivals(announced, ready)
            # Files that left landing are forgotten: the same name sent again is a new drop.
            announced = ready
            if arrived:
                self.log.info("%s: %d ready drop(s): %s", self.dataset, len(arrived),
                              ", ".join(arrived))
                yield TriggerEvent({"dataset": self.dataset, "files": arrived})
            await asyncio.sleep(interval)
