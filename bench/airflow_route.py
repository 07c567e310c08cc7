"""The Airflow route against the CLI, in CPU seconds, for the same drops.

    uv run --frozen python bench/airflow_route.py [--scale 10] [--warehouse-url URL]

Writes the sample (`yitu sample --scale N`), then twice, each time on a fresh YITU_HOME (and a
fresh database when a PostGIS URL is given):
- cli: `yitu drop` of every file, then `yitu run`;
- airflow: `yitu drop` of every file, then `airflow dags test` of the five ingest DAGs (the
  counties first) and of `yitu_integrate`, as `.ci/demo` runs them, on Airflow's own SQLite
  metadata database.
CPU seconds are user + system of every process the step waited for (`RUSAGE_CHILDREN` deltas);
the drops are not counted (the same in both). Both routes must publish the same layers: the
published tables are compared by an order-independent digest. Results go to
bench/results/airflow_route.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INGEST = ["admin_divisions", "farmland_pbf", "farmland_hsf", "licenses", "complaints"]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """(wall s, CPU s) of one command; its output in `log`."""
    wall, cpu = time.perf_counter(), _cpu()
    with log.open("a", encoding="utf-8") as out:
        subprocess.run(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.perf_counter() - wall, _cpu() - cpu


def _env(home: Path, url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YITU_", "AIRFLOW"))}
    env.update(YITU_HOME=str(home), YITU_PII_KEY="bench-key-0123456789abcdef",
               YITU_AS_OF="2026-11-16T12:00:00", AIRFLOW_HOME=str(home / "airflow"),
               AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
               AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING")
    if url:
        env["YITU_WAREHOUSE_URL"] = url
    return env


def _drop_all(samples: Path, env: dict[str, str], log: Path) -> None:
    files = json.loads((samples / "manifest.json").read_text("utf-8"))["files"]
    for f in files:
        _run([sys.executable, "-m", "pipelines.cli", "drop", str(samples / f["file"]),
              "--dataset", f["dataset"]], env, log)


def _digest(env: dict[str, str]) -> dict[str, list[object]]:
    # the tests' order-independent digest of every published table
    code = ("import json\nfrom pipelines import runner\nfrom pipelines.config import settings\n"
            "from tests.digests import published_digest\n"
            "print(json.dumps(published_digest(runner.warehouse(settings()))))\n")
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True,
                          capture_output=True, text=True)
    found: dict[str, list[object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _fresh_url(url: str | None, name: str) -> str | None:
    """A new database `name` on the server of `url` (PostGIS), or None (GeoPackage)."""
    if not url:
        return None
    from sqlalchemy import create_engine, text

    admin = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    made = url.rsplit("/", 1)[0] + "/" + name
    eng = create_engine(made)
    with eng.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    eng.dispose()
    return made


def measure(samples: Path, work: Path, url: str | None) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for route in ("cli", "airflow"):
        home = work / route
        home.mkdir(parents=True)
        env = _env(home, _fresh_url(url, f"yitu_route_{route}"))
        log = work / f"{route}.log"
        _drop_all(samples, env, log)
        steps: dict[str, tuple[float, float]] = {}
        if route == "cli":
            steps["yitu run"] = _run([sys.executable, "-m", "pipelines.cli", "run"], env, log)
        else:
            airflow = str(Path(sys.executable).with_name("airflow"))
            _run([airflow, "db", "migrate"], env, log)  # Airflow's own set-up: not counted
            for dag in [*(f"yitu_ingest_{d}" for d in INGEST), "yitu_integrate"]:
                steps[dag] = _run([airflow, "dags", "test", dag], env, log)
        out[route] = {"steps": {k: [round(w, 1), round(c, 1)] for k, (w, c) in steps.items()},
                      "wall": round(sum(w for w, _ in steps.values()), 1),
                      "cpu": round(sum(c for _, c in steps.values()), 1),
                      "digest": _digest(env)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--warehouse-url", help="a PostGIS server URL (a database per route is "
                    "made on it); default: the embedded GeoPackage")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "airflow_route.md"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="yitu-route-") as tmp:
        work = Path(tmp)
        samples = work / "samples"
        subprocess.run([sys.executable, "-m", "pipelines.cli", "sample", str(samples),
                        "--seed", "42", "--scale", str(args.scale)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        found = measure(samples, work, args.warehouse_url)
    cli, air = found["cli"], found["airflow"]
    same = cli["digest"] == air["digest"]
    ratio = float(air["cpu"]) / max(float(cli["cpu"]), 1e-9)  # type: ignore[arg-type]
    lines = [f"# The Airflow route against the CLI ({time.strftime('%Y-%m-%d %H:%M')})", "",
             f"`python bench/airflow_route.py --scale {args.scale}` on "
             f"{'PostGIS' if args.warehouse_url else 'the GeoPackage'}, {platform.machine()}, "
             f"{os.cpu_count()} cores shared with other work. The same sample drops "
             f"(`yitu sample --scale {args.scale}`), drops not counted.", "",
             "| route | step | wall s | CPU s |", "|---|---|---:|---:|"]
    for route, res in found.items():
        for step, (w, c) in res["steps"].items():  # type: ignore[attr-defined]
            lines.append(f"| {route} | {step} | {w} | {c} |")
        lines.append(f"| {route} | **total** | **{res['wall']}** | **{res['cpu']}** |")
    lines += ["", f"Airflow / CLI CPU seconds: **{ratio:.2f}** (target ≤ 1.25). Published "
              f"layers equal: {same}.", "",
              "Digest of the published layers (rows, sha256): " +
              json.dumps(cli["digest"], ensure_ascii=False)]
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    digest = hashlib.sha256(json.dumps(cli["digest"]).encode()).hexdigest()[:12]
    print(f"digest {digest}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
