"""Named points where the fault tests kill the process as `kill -9` would, to prove that a
rerun after a crash at that point gives the same warehouse. Inert unless YITU_FAILPOINT names
the point (set only by tests/integration/test_faults.py)."""

from __future__ import annotations

import os
import signal

ENV = "YITU_FAILPOINT"
POINTS = ("read.done", "load.before_commit", "load.after_commit", "publish.before_swap",
          "publish.before_commit", "publish.after_swap")


def failpoint(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
