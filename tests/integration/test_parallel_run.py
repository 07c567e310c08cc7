"""`yitu run --jobs 2` on PostGIS: datasets answered and counties built in forked workers give
the same warehouse as one process: the same published layers row for row, the same answer for
every drop. (The GeoPackage answers drops one at a time, one writer per file, and builds the
counties in workers: tests/integration/test_incremental.py runs its incremental runs so.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from tests.conftest import fresh_database, set_yitu_env
from tests.digests import published_digest

ROOT = Path(__file__).resolve().parents[2]
ANSWER = ("dataset", "file", "state", "rows_read", "rows_loaded", "rows_quarantined",
          "rows_flagged")


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "-v", *args], cwd=ROOT,
                          capture_output=True, text=True, env=os.environ.copy(), timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _load_sample(sample_dir: Path, jobs: int) -> tuple[dict[str, Any], list[tuple[Any, ...]],
                                                       str]:
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    done = _run_cli("run", "--jobs", str(jobs))
    from pipelines import runner

    wh = runner.warehouse(s)
    try:
        digest = published_digest(wh)
    finally:
        wh.engine.dispose()
    status = json.loads(_run_cli("status", "--json").stdout)
    answers = sorted(tuple(d[k] for k in ANSWER) for d in status)
    return digest, answers, done.stderr


def test_two_jobs_give_what_one_gives(sample_dir: Path, tmp_path: Path, postgis_server: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    results = {}
    with ExitStack() as stack:
        for jobs in (1, 2):
            url = stack.enter_context(fresh_database(postgis_server))
            set_yitu_env(monkeypatch, tmp_path / f"home{jobs}", url)
            results[jobs] = _load_sample(sample_dir, jobs)
    one, two = results[1], results[2]
    assert two[0] == one[0], "the published layers differ"
    assert two[1] == one[1], "the drops were answered differently"
    assert len(one[0]) == 7 and all(rows for rows, _ in one[0].values())
    assert "forked workers" not in one[2]
    counties = one[0]["region_summary"][0]
    datasets = len({answer[0] for answer in one[1]}) - 1  # the counties' first, on their own
    for workers, items in ((1, 1), (2, datasets), (2, counties)):
        assert f"{workers} forked worker(s) for {items} item(s)" in two[2], two[2][-3000:]
