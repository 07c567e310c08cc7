"""bench/warehouse_io.py runs end to end at a tiny size: its own cluster, every step, the
report with a ratio for each (the real measurement is 200k rows, by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgis
def test_warehouse_io_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "warehouse_io.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "warehouse_io.py"), "--rows", "300",
                    "--in-process", "--out", str(out)], check=True, cwd=ROOT, timeout=300,
                   capture_output=True)
    rows = [line for line in out.read_text("utf-8").splitlines()
            if line.startswith(("| GeoPackage", "| PostGIS"))]
    assert len(rows) == 12
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[2] in ("300", "600") and float(cells[5].strip("*")) > 0, line
