"""bench/portal_upload.py on a 5 MiB upload: the 50 MiB figure in BENCHMARKS.md is run by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_portal_upload_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "portal_upload.md"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "portal_upload.py"), "--mb", "5",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    row = out.read_text("utf-8").splitlines()[-1].strip("| ").split(" | ")
    assert row[:3] == ["5", "303", "True"]  # answered, and landed whole
    assert float(row[5]) < 5  # growth in MiB: less than the file, however it is measured
