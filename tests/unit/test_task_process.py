"""A Celery task's process parses files in a reading child, as the CLI does.

Airflow's Celery worker runs each task in a process its supervisor forks (os.fork) from one of
Celery's pool workers, which billiard (Celery's process pool) records as multiprocessing's
current process: daemonic, with billiard's own kind of key. Here the same: a real billiard
pool, whose worker forks a task process the way the supervisor does.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from billiard import Pool

from pipelines.read import isolate
from pipelines.read.delivery import RawDelivery, machine_fault
from pipelines.read.limits import Budget

BUDGET = Budget(memory_mb=400, seconds=60)


def whose(_: str) -> RawDelivery:
    """A reader that says which process ran it."""
    return RawDelivery(pd.DataFrame({"a": [1]}), pd.Series([2]), {"pid": os.getpid()})


def _task(own: bool) -> dict[str, Any]:
    """In the pool worker: fork the task's process as the supervisor does; in it, parse."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the task process
        os.close(read)
        try:
            import multiprocessing

            from pipelines.orchestration import tasks

            daemonic = multiprocessing.current_process().daemon
            if own:
                tasks.own_process()
            raw = isolate.parse(whose, ("x",), Path(tempfile.mkdtemp()), BUDGET, "x.csv")
            out = {"task": os.getpid(), "reader": raw.notes["pid"], "inherited": daemonic,
                   "child_peak_mb": raw.peak_rss_mb}
        except BaseException as exc:  # noqa: BLE001  # told to the test, whatever it is
            out = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        answer: dict[str, Any] = json.loads(f.read())
    os.waitpid(pid, 0)
    return answer


def _in_celery_task(own: bool) -> dict[str, Any]:
    isolate.prestart()  # a forkserver the pool's worker inherits: not the task's to use
    with Pool(1) as pool:
        return pool.apply(_task, (own,))


def test_a_task_forked_from_a_pool_worker_parses_in_a_reading_child() -> None:
    found = _in_celery_task(own=True)
    assert "error" not in found, found
    assert found["inherited"] is True  # billiard's worker, as the supervisor's fork sees it
    assert found["reader"] != found["task"]  # parsed in the reading child, under its ceiling
    assert found["child_peak_mb"] > 0


def test_left_daemonic_the_task_would_parse_the_file_itself() -> None:
    """What every Celery task did before `own_process`: no ceiling, no time limit."""
    found = _in_celery_task(own=False)
    assert "error" not in found, found
    assert found["reader"] == found["task"] and found["child_peak_mb"] is None


def test_a_reading_child_that_cannot_be_started_is_a_machine_fault(tmp_path: Path) -> None:
    """Never the department's file: a reader the forkserver cannot be handed (a lambda does
    not pickle) fails as the machine's fault, and the drop stays pending."""
    with pytest.raises(OSError) as err:
        isolate.parse(lambda _: whose(_), ("x",), tmp_path, BUDGET, "x.csv")
    assert machine_fault(err.value) and "could not be started" in str(err.value)
