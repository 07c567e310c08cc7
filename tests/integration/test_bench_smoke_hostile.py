"""bench/hostile_runs.py runs (two small cases): the full benchmark is run by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hostile_runs_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "hostile_runs.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "hostile_runs.py"), "--cases",
                           "csv_nul_byte,xlsx_only_far_cell", "--no-big", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = out.read_text("utf-8")
    assert "csv_nul_byte" in table and "xlsx_only_far_cell" in table
    assert "Runs failing a promise (exit not 0, a drop left pending, over the limit): 0" in table
