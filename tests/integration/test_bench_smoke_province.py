"""bench/province.py runs end to end at a tiny size: its own cluster, the sample files, the
first load, a daily delivery, a county's resend, the reference tools, the table, the chart
(the real measurement is 0.1x and 0.3x of a province, by hand)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgis
def test_province_bench_runs(tmp_path: Path) -> None:
    out = tmp_path / "province.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "province.py"), "--sizes",
                           "0.0004", "--daily-orders", "100", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = out.read_text("utf-8")
    steps = [line for line in table.splitlines() if line.startswith("| 0.0004x |")]
    loads = [line for line in steps if "(a) first full load" in line or "(c) daily" in line
             or "(d) one county" in line]
    assert len(loads) == 3, table
    for line in loads:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[3].replace(",", "")) > 0 and float(cells[4].replace(",", "")) > 0
        assert "loaded" in cells[6] and "rejected" not in cells[6] and "failed" not in cells[6]
    assert "(b) the same through the scheduler" in table  # the hook for the Celery mode
    # (d) on three copies of the warehouse as (c) left it, the median reported
    assert "the median of 3 runs" in next(line for line in loads if "(d) one county" in line)
    ratios = [line for line in steps if "**" in line]
    assert len(ratios) == 4, table  # read, load, integrate, whole load against the references
    assert "## Targets" in table and "growth exponent" in table
    assert (tmp_path / "province.png").stat().st_size > 0
