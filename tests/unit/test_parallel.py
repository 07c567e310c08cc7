"""The command line's forked workers (`pipelines.runner.parallel`): a map's `started` hook
comes once every worker is forked, and an aside forked up front runs only when told."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.runner.parallel import Aside, forked_map


def _pid(_: int) -> int:
    return os.getpid()


def _children() -> set[int]:
    """The processes this one has forked and not yet reaped (Linux's /proc)."""
    return {int(pid) for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()}


@pytest.mark.parametrize("jobs", [1, 2])
def test_started_comes_once_the_workers_are_forked(jobs: int) -> None:
    """When `started` comes, every worker of the map exists already: a thread it starts (a
    read ahead) is never alive in this process while a worker is forked."""
    seen: list[set[int]] = []
    before = _children()
    got = forked_map(_pid, [1, 2, 3, 4], jobs, lambda: seen.append(_children() - before))
    assert len(seen) == 1
    if jobs == 1:
        assert set(got) == {os.getpid()} and seen == [set()]
    else:  # the two workers, forked before it came, did all the work
        assert len(seen[0]) == 2 and set(got) <= seen[0]


def _touch(path: Path) -> None:
    path.write_text("ran", "utf-8")


def test_an_aside_runs_when_told_and_only_then(tmp_path: Path) -> None:
    told = Aside(_touch, tmp_path / "told")
    untold = Aside(_touch, tmp_path / "untold")
    told.go()
    assert told.join() == 0 and (tmp_path / "told").read_text("utf-8") == "ran"
    assert untold.join() == 0 and not (tmp_path / "untold").exists()


def _exited(pid: int) -> bool:
    """Gone, or a zombie nobody reaps (a container's first process may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] in "ZX"
    except FileNotFoundError:
        return True


def test_an_aside_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    """A run killed before it told its aside anything: the aside stops too, instead of
    waiting for ever with whatever it inherited (another child still holds the run's end
    of the pipe, as the ingest's workers do)."""
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from pipelines.runner.parallel import Aside\n"
        "aside = Aside(Path.touch, Path(sys.argv[1]))\n"
        "if os.fork() == 0:\n"  # a later child, holding the pipe's end: it outlives us
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "print(aside._process.pid, flush=True)\n"
        "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "ran")],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):
        if _exited(pid):
            break
        time.sleep(0.1)
    assert _exited(pid), "the aside outlived its killed parent"
    assert not (tmp_path / "ran").exists()
