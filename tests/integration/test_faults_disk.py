"""The disk filling up while a delivery is unpacked: the drop waits (a fault of the machine,
never the department's), nothing half-written stays, and it loads once there is room."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipelines.config import settings
from pipelines.landing.drops import drop_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_work_disk(yitu_env: Path) -> Iterator[Path]:
    """$YITU_HOME/work, where deliveries are unpacked, on a 64 KiB tmpfs of its own."""
    work = yitu_env / "work"
    work.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(work)], check=True)
    try:
        yield work
    finally:
        subprocess.run(["umount", "-l", str(work)], check=False)


def _yitu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=600, env=os.environ.copy())


def test_disk_full_while_unpacking(small_work_disk: Path, yitu_env: Path,
                                   sample_dir: Path) -> None:
    drop_file(settings(), sample_dir / "farmland_pbf.zip", "farmland_pbf")  # ~0.5 MB unpacked
    run = _yitu("run")
    assert run.returncode == 3, run.stdout + run.stderr  # the machine's fault, said plainly
    assert "运行环境故障" in run.stderr and "Traceback" not in run.stderr
    [drop] = json.loads(_yitu("status", "--json").stdout)
    assert drop["state"] == "pending"  # not answered as a bad file
    assert list(small_work_disk.iterdir()) == []  # nothing half-unpacked left
    subprocess.run(["umount", "-l", str(small_work_disk)], check=True)  # room again
    run = _yitu("run")
    assert run.returncode == 0, run.stdout + run.stderr
    [drop] = json.loads(_yitu("status", "--json").stdout)
    assert drop["state"] == "loaded"
