"""Every hostile file through a whole `yitu run`, one file per fresh warehouse: the run must
exit 0 and leave no drop pending, and its peak memory (the yitu process and every process it
starts, summed, sampled every 50 ms) must stay under 1.5 GB.

    uv run --frozen python bench/hostile_runs.py                 # every case, and the big one
    uv run --frozen python bench/hostile_runs.py --cases csv_nul_byte,xlsx_far_cell --no-big

The cases are `tests/hostile/` (the large ones generated here), plus "300k bad rows": a
113 MB hotline export in which every row fails a rule, which once took 2.9 GB to reject.
Writes bench/results/hostile_runs.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.hostile.make_hostile import CASES, write_case  # noqa: E402

LIMIT_MB = 1536
BIG = "300k_bad_rows"


def _big(folder: Path) -> Path:
    """300,000 work orders, every one with a satisfaction value not in the code list."""
    from pipelines.sample import write_samples

    samples = folder / "samples"
    write_samples(samples, seed=7, scale=1)
    sample = pd.read_csv(samples / "complaints.csv", dtype=str, encoding="gbk",
                         encoding_errors="replace")
    rows = pd.concat([sample] * (300_000 // len(sample) + 1), ignore_index=True)[:300_000]
    from pipelines.contracts import normalise_header

    key = next(c for c in rows.columns if normalise_header(c) in ("GDBH", "工单编号"))
    rows[key] = [f"GD{i:09d}" for i in range(len(rows))]
    sat = next(c for c in rows.columns if normalise_header(c) in ("MYD", "满意度"))
    rows[sat] = "说不清"
    out = folder / "工单.csv"
    rows.to_csv(out, index=False, encoding="utf-8")
    return out


def _run(args: list[str], env: dict[str, str]) -> tuple[int, float, float]:
    """(exit code, seconds, peak MiB of the process tree)."""
    start = time.perf_counter()
    proc = psutil.Popen([sys.executable, "-m", "pipelines.cli", *args], env=env, cwd=ROOT,
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            tree = [proc, *proc.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.05)
    return proc.returncode, time.perf_counter() - start, peak / 2**20


def measure(name: str, dataset: str, path: Path, home: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YITU_")}
    env.update(YITU_HOME=str(home), YITU_PII_KEY="bench-key-0123456789abcdef",
               YITU_AS_OF="2026-11-16T12:00:00")
    code, _, _ = _run(["drop", str(path), "--dataset", dataset], env)
    code, seconds, peak = _run(["run"], env)
    status = json.loads(os.popen(f"cd {ROOT} && YITU_HOME={home} {sys.executable} -m "
                                 "pipelines.cli status --json").read() or "[]")
    states = sorted({d["state"] for d in status})
    rules = sorted({e["rule"] for d in status for e in d["errors"][:1]})
    return {"case": name, "dataset": dataset, "MB": round(path.stat().st_size / 2**20, 1),
            "exit": code, "states": ",".join(states), "rule": ",".join(rules),
            "seconds": round(seconds, 1), "peak_mib": round(peak)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", help="comma-separated case names (default: all)")
    ap.add_argument("--no-big", action="store_true", help=f"leave out {BIG}")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "hostile_runs.md"))
    args = ap.parse_args()
    names = args.cases.split(",") if args.cases else list(CASES)
    rows = []
    with tempfile.TemporaryDirectory(prefix="yitu-hostile-") as tmp:
        base = Path(tmp)
        for name in names:
            path = write_case(name, base / "files" / name)
            rows.append(measure(name, CASES[name].dataset, path, base / "homes" / name))
            path.unlink()
            print(rows[-1], flush=True)
        if not args.no_big:
            rows.append(measure(BIG, "complaints", _big(base / "big"), base / "homes" / BIG))
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    bad = table[(table["exit"] != 0) | table["states"].str.contains("pending")
                | (table["peak_mib"] > LIMIT_MB)]
    lines = [f"# Every hostile file through `yitu run` ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"{len(table)} runs, one file each on a fresh GeoPackage warehouse; peak = the "
             "process tree's summed RSS, sampled every 50 ms. Limit "
             f"{LIMIT_MB} MiB. Largest peak: {table['peak_mib'].max()} MiB "
             f"({table.loc[table['peak_mib'].idxmax(), 'case']}). Runs failing a promise "
             f"(exit not 0, a drop left pending, over the limit): {len(bad)}.", "",
             table.to_markdown(index=False)]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 1 if len(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
