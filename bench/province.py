"""A province through yitu on PostGIS, drop -> published, at 0.1x, 0.3x (and 1x) its size.

    uv run --frozen python bench/province.py                    # 0.1x and 0.3x
    uv run --frozen python bench/province.py --sizes 0.1,0.3,1   # and a whole province (long)
    uv run --frozen python bench/province.py --warehouse-url postgresql+psycopg://u@host/db

A province is 1,000,000 permanent-farmland parcels (PBF), 300,000 high-standard farmland
polygons, 1,000,000 licences and 1,000,000 work orders, written deterministically by
`yitu sample --province F` (seed 42; large deliveries split as departments send them: PBF one
file per county, licences and orders in files of 250,000 rows). For each size, on a fresh
database (a throwaway PostgreSQL cluster on 127.0.0.1 as tests/conftest.py starts, or a new
database on the server of --warehouse-url), every measurement in a process of its own:

  (a) cli        the first full load: `yitu drop` of every file (the command's main, once per
                 file, in one process), then `yitu run`
  (b) scheduler  the same through the real scheduler with two Celery workers, on a database
                 of its own: bench/province_celery.py (what it measures and how); its published
                 layers compared with (a)'s by digest. `scheduler-no-preload`: the same with
                 Airflow's own Celery settings (every task imports yitu itself)
  (c) daily      a daily delivery of 10,000 new work orders on top of (a): drop + run
  (d) resend     one county's PBF snapshot sent again, slightly changed: drop + run, on
                 --resends (3) copies of the warehouse as (c) left it, the median reported
  reference      on the same files in the same run: pyogrio/pandas read of every file;
                 `ogr2ogr` of the farmland layers into PostGIS with PG_USE_COPY=YES;
                 geopandas `overlay(pbf, hsf, how="union")` and `sjoin` of licences and orders
                 on the parcels.

Per step: wall seconds, CPU seconds (the command and every process it waited for, plus the
PostgreSQL server's CPU when the cluster is ours), peak RSS (the largest process, rusage); per
stage the figures yitu records itself (`yitu status --json` notes.stages per drop, audit.meta
`last_integration_cost` per integration). Then the growth exponent (log-log slope of CPU
seconds against rows), a chart (bench/results/province.png) and the targets, into
bench/results/province.md. `--profile` adds a cProfile of one more daily delivery's `yitu run`
at the largest size (its figures are not used: profiling slows it down).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.warehouse_io import Cluster  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "province.md"
SEED = 42
DAILY_ORDERS = 10_000  # --daily-orders
JOBS = 1  # --jobs: processes of each `yitu run`
FIRST_LOAD_ONLY = False  # --first-load-only
RESENDS = 3  # --resends
PII_KEY = "bench-key-0123456789abcdef"
AS_OF = "2026-11-16T12:00:00"
Result = dict[str, Any]
TARGETS = {"full_load_s": 600.0, "daily_s": 30.0, "resend_share": 0.10, "exponent": 1.1,
           "peak_mib": 4096.0}


# -- running and measuring one command ---------------------------------------------------------


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> Result:
    """A command, its whole process tree watched every 0.1 s: CPU seconds of every process
    seen (yitu parses files in children of a forkserver, which nobody waits for, so rusage
    alone would miss them; wait4's figure is the floor), the peak of the tree's summed RSS
    and of its largest process. Output goes to files: no pipe can fill and block."""
    import psutil

    started = time.perf_counter()
    seen: dict[tuple[int, float], float] = {}  # (pid, start time) -> last CPU seen
    tree_peak = proc_peak = 0.0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=err)
        main = psutil.Process(proc.pid)
        while True:
            try:
                tree = [main, *main.children(recursive=True)]
            except psutil.Error:
                tree = []
            total = 0.0
            for p in tree:
                try:
                    with p.oneshot():
                        cpu, rss = p.cpu_times(), p.memory_info().rss / 2**20
                        seen[(p.pid, p.create_time())] = cpu.user + cpu.system
                except psutil.Error:
                    continue
                total += rss
                proc_peak = max(proc_peak, rss)
            tree_peak = max(tree_peak, total)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])} exited {proc.returncode}:\n{stderr[-3000:]}")
    rusage_cpu = usage.ru_utime + usage.ru_stime
    return {"seconds": seconds, "cpu_s": max(rusage_cpu, sum(seen.values())),
            "peak_rss_mib": max(usage.ru_maxrss / 1024, proc_peak), "tree_rss_mib": tree_peak,
            "stdout": stdout}


def start_cluster() -> Cluster:
    """A throwaway cluster as warehouse_io's, with autovacuum on as in production: a first
    load of millions of rows is analysed by it before the integration reads them."""
    return Cluster("-c synchronous_commit=off -c max_wal_size=4GB")


def stop_cluster(cluster: Cluster) -> None:
    cluster._ctl("-m", "immediate", "stop")
    shutil.rmtree(cluster.data, ignore_errors=True)


@dataclass
class Context:
    """One size's run: its files, its YITU_HOME and database, the cluster if ours."""

    fraction: float
    files: Path
    home: Path
    url: str
    cluster: Cluster | None
    manifest: dict[str, Any] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)  # drops of the steps measured so far

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("YITU_")}
        env.update(YITU_HOME=str(self.home), YITU_WAREHOUSE_URL=self.url, YITU_PII_KEY=PII_KEY,
                   YITU_AS_OF=AS_OF, YITU_JOBS=str(JOBS))  # `yitu run --jobs` (--jobs here)
        return env

    def yitu(self, *args: str) -> Result:
        return run_measured([sys.executable, "-m", "pipelines.cli", *args], self.env())

    def server_cpu(self) -> float:
        return self.cluster.cpu_s() if self.cluster else 0.0

    def psql_value(self, sql: str) -> str:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                value = conn.execute(text(sql)).scalar()
        finally:
            engine.dispose()
        return "" if value is None else str(value)


# -- yitu: drop -> published -------------------------------------------------------------------


def _drop_and_run(ctx: Context, files: list[tuple[str, Path]]) -> Result:
    """`yitu drop` each file, then `yitu run`; the drops' stages from the ledger and the
    integration's from audit.meta."""
    server = ctx.server_cpu()
    drop = drop_files(ctx, files)
    run = ctx.yitu("run")
    time.sleep(0.3)  # the postmaster reaps the backends that served the run
    server = ctx.server_cpu() - server
    answers = ledger_stages(ctx)
    return {"seconds": drop["seconds"] + run["seconds"],
            "cpu_s": drop["cpu_s"] + run["cpu_s"] + server, "client_cpu_s":
            drop["cpu_s"] + run["cpu_s"], "server_cpu_s": server,
            "peak_rss_mib": max(drop["peak_rss_mib"], run["peak_rss_mib"]),
            "tree_rss_mib": run["tree_rss_mib"], "drop": drop, "run": {k: run[k] for k in ("seconds", "cpu_s", "peak_rss_mib")},
            **answers}


def drop_files(ctx: Context, files: list[tuple[str, Path]]) -> Result:
    """`yitu drop` of each file, in one process: the command's main, without paying its
    imports (seconds, whatever the file) once per file."""
    return run_measured([sys.executable, __file__, "--drops",
                         json.dumps([[d, str(p)] for d, p in files])], ctx.env())


def ledger_stages(ctx: Context) -> Result:
    """What yitu recorded of the drops answered since the last step: per stage (summed over
    the drops; the integration's from audit.meta), the drops' states, the rows."""
    status = [d for d in json.loads(ctx.yitu("status", "--json")["stdout"])
              if d["drop_id"] not in ctx.answered]
    ctx.answered |= {d["drop_id"] for d in status}
    stages: dict[str, dict[str, float]] = {}
    for d in status:
        for name, s in (d.get("notes") or {}).get("stages", {}).items():
            acc = stages.setdefault(name, {"seconds": 0.0, "cpu_s": 0.0, "peak_rss_mib": 0.0,
                                           "rows": 0})
            acc["seconds"] += s.get("seconds") or 0.0
            acc["cpu_s"] += s.get("cpu_seconds") or 0.0
            acc["rows"] += s.get("rows") or 0
            acc["peak_rss_mib"] = max(acc["peak_rss_mib"], s.get("peak_rss_mb") or 0.0)
    cost = json.loads(ctx.psql_value("SELECT value FROM audit.meta WHERE key = "
                                     "'last_integration_cost'") or "{}")
    for name, s in cost.items():
        stages[name] = {"seconds": s.get("seconds") or 0.0, "cpu_s": s.get("cpu_seconds") or 0.0,
                        "peak_rss_mib": s.get("peak_rss_mb") or 0.0, "rows": s.get("rows") or 0}
    states: dict[str, int] = {}
    for d in status:
        states[f"{d['dataset']}:{d['state']}"] = states.get(f"{d['dataset']}:{d['state']}", 0) + 1
    return {"stages": stages, "states": states,
            "rows_read": sum(d.get("rows_read") or 0 for d in status),
            "rows_loaded": sum(d.get("rows_loaded") or 0 for d in status)}


def delivered(ctx: Context) -> list[tuple[str, Path]]:
    """Every file of the sample, in the order a first load would drop them."""
    return [(f["dataset"], ctx.files / f["file"]) for f in ctx.manifest["files"]]


def mode_cli(ctx: Context) -> Result:
    """(a) the first full load through the command line."""
    return _drop_and_run(ctx, delivered(ctx))


def mode_scheduler(ctx: Context) -> Result:
    """(b) the same load through the real scheduler with two Celery workers
    (bench/province_celery.py), on a database of its own."""
    from bench.province_celery import through_scheduler

    return through_scheduler(ctx)


def mode_scheduler_test_pace(ctx: Context) -> Result:
    """(b) with the Celery test's 1-second heartbeats and landing poll."""
    from bench.province_celery import through_scheduler

    return through_scheduler(ctx, test_pace=True)


def mode_scheduler_no_preload(ctx: Context) -> Result:
    """(b) again with Airflow's own Celery settings: every task imports yitu itself."""
    from bench.province_celery import through_scheduler

    return through_scheduler(ctx, preload=False)


MODES: dict[str, Callable[[Context], Result] | None] = {
    "cli": mode_cli,
    "scheduler": mode_scheduler,
    "scheduler-no-preload": mode_scheduler_no_preload,
    "scheduler-test-pace": mode_scheduler_test_pace,
}


def daily_orders(ctx: Context, out: Path, serial_day: str = "20261116") -> Path:
    """DAILY_ORDERS new work orders, as the hotline sends a day: rows of the province's
    export with the next day's order numbers, same header, encoding and line ends."""
    import pandas as pd

    first = next(f for f in ctx.manifest["files"] if f["dataset"] == "complaints")
    rows = pd.read_csv(ctx.files / first["file"], encoding="GBK", dtype=str,
                       keep_default_na=False)
    rows = pd.concat([rows] * (DAILY_ORDERS // len(rows) + 1))[:DAILY_ORDERS]
    rows.iloc[:, 0] = [f"{serial_day}{i:05d}" for i in range(1, len(rows) + 1)]  # GDBH first
    rows.to_csv(out, index=False, encoding="GBK", lineterminator="\r\n")
    return out


def county_resend(ctx: Context, out: Path) -> tuple[Path, str]:
    """The largest county's PBF snapshot again: 2 % of its parcels with a corrected 耕地等别,
    ten parcels gone, every other parcel exactly as first sent. Same format, CRS and encoding
    as the first delivery.

    The parcels stay in the CRS they were read in (the file's, EPSG:4525), so the writer's
    reprojection to it is none: until the seventh session they went through EPSG:4490 and
    back, which moved a sixth of the vertices by up to 1e-9 m, so every parcel of the county
    differed from the one published and all its pieces were published again."""
    import pandas as pd
    import pyogrio
    import pyproj

    from pipelines.sample.writers import write_shapefile_zip

    pbf = [f for f in ctx.manifest["files"] if f["dataset"] == "farmland_pbf"]
    frames = [pyogrio.read_dataframe(ctx.files / f["file"], encoding="GBK") for f in pbf]
    counts = pd.concat([f["XZQDM"] for f in frames], ignore_index=True).value_counts()
    county = str(counts.index[0])
    frame = next(f for f in frames if (f["XZQDM"] == county).any())
    mine = frame[frame["XZQDM"] == county].iloc[10:].copy()
    fix = mine.index[:: 50]
    mine.loc[fix, "GDDB"] = mine.loc[fix, "GDDB"] % 15 + 1
    if not frame.crs.is_exact_same(pyproj.CRS("EPSG:4525")):
        raise RuntimeError(f"{county}'s parcels were not sent in EPSG:4525: {frame.crs}")
    write_shapefile_zip(mine, out, "YJJBNTBHTB", "EPSG:4525", "GBK")
    return out, county


def mode_daily(ctx: Context) -> Result:
    """(c) a day's 10,000 work orders on top of the full load."""
    return _drop_and_run(ctx, [("complaints", daily_orders(ctx, ctx.home.parent / "day.csv"))])


def mode_resend(ctx: Context) -> Result:
    """(d) one county's PBF snapshot again, RESENDS times, each on a copy of the warehouse
    and YITU_HOME as (c) left them: the median run (by wall seconds) with every run's
    seconds beside it. One run was not a measure of the target: the same resend on the same
    base took 31.4-37.5 s within an hour at 1x, the machine's speed wandering."""
    path, county = county_resend(ctx, ctx.home.parent / "pbf_resend.zip")
    runs = [_on_copy(ctx, i, lambda copy: _drop_and_run(copy, [("farmland_pbf", path)]))
            for i in range(RESENDS)]
    result = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    result["county"] = county
    result["runs_s"] = [r["seconds"] for r in runs]
    result["runs_cpu_s"] = [r["cpu_s"] for r in runs]
    return result


def _on_copy(ctx: Context, i: int, step: Callable[[Context], Result]) -> Result:
    """`step` on a copy of ctx's database (a template copy, made and checkpointed before
    `step` starts) and of its YITU_HOME; both removed after."""
    from sqlalchemy import create_engine, text

    server, name = ctx.url.rsplit("/", 1)
    copy = f"{name}_copy{i}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    home = ctx.home.parent.parent / f"{ctx.home.parent.name}_copy{i}" / ctx.home.name
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {copy}"))
            # FILE_COPY (PostgreSQL 15): the files copied, not written through the WAL
            strategy = " STRATEGY FILE_COPY" if int(conn.execute(text(
                "SHOW server_version_num")).scalar_one()) >= 150000 else ""
            conn.execute(text(f"CREATE DATABASE {copy} TEMPLATE {name}{strategy}"))
            conn.execute(text("CHECKPOINT"))
        shutil.rmtree(home.parent, ignore_errors=True)
        shutil.copytree(ctx.home, home, symlinks=True)
        os.sync()  # the copies' writes out of the way of the step's
        there = Context(ctx.fraction, ctx.files, home, f"{server}/{copy}", ctx.cluster,
                        ctx.manifest, set(ctx.answered))
        return step(there)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {copy}"))
        admin.dispose()
        shutil.rmtree(home.parent, ignore_errors=True)


# -- the reference tools, on the same files ----------------------------------------------------


def reference_read(files: Path) -> Result:
    """Each delivered file read by pyogrio (Arrow) or pandas: the floor of reading."""
    import pandas as pd
    import pyogrio

    manifest = json.loads((files / "manifest.json").read_text("utf-8"))
    rows = 0
    for f in manifest["files"]:
        path = files / f["file"]
        if f["format"] == "CSV":
            rows += len(pd.read_csv(path, encoding="GBK", dtype=str, keep_default_na=False))
        elif f["format"] == "XLSX":
            rows += len(pd.read_excel(path, header=1, dtype=str, engine="calamine"))
        else:
            rows += len(pyogrio.read_dataframe(path, use_arrow=True,
                                               encoding="GBK" if "zip" in f["format"] else None))
    return {"rows": rows}


def reference_overlay(files: Path) -> Result:
    """geopandas: the farmland layers overlaid (union), licences and orders joined to the
    parcels. Timed without the reading (measured by reference_read)."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    manifest = json.loads((files / "manifest.json").read_text("utf-8"))

    def read(dataset: str) -> list[Any]:
        return [f for f in manifest["files"] if f["dataset"] == dataset]

    pbf = pd.concat([pyogrio.read_dataframe(files / f["file"], use_arrow=True, encoding="GBK",
                                            columns=["YJJBNTTBBH"]).to_crs(4490)
                     for f in read("farmland_pbf")], ignore_index=True)
    hsf = pyogrio.read_dataframe(files / "farmland_hsf.gpkg", use_arrow=True,
                                 columns=["xmbh"]).to_crs(4490)
    lic = pd.concat([pd.read_excel(files / f["file"], header=1, dtype=str, engine="calamine")
                     for f in read("licenses")], ignore_index=True)
    cmp = pd.concat([pd.read_csv(files / f["file"], encoding="GBK", dtype=str,
                                 keep_default_na=False, usecols=["JD", "WD"])
                     for f in read("complaints")], ignore_index=True)
    lic_pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        pd.to_numeric(lic["经度"], errors="coerce"), pd.to_numeric(lic["纬度"], errors="coerce")),
        crs=4490)
    cmp_pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(
        pd.to_numeric(cmp["JD"], errors="coerce"), pd.to_numeric(cmp["WD"], errors="coerce")),
        crs=4490)
    valid = pbf[pbf.is_valid]  # overlay needs valid input, as yitu's quarantine ensures
    started, cpu = time.perf_counter(), time.process_time()
    union = gpd.overlay(valid, hsf[hsf.is_valid], how="union", keep_geom_type=True)
    on_pbf = gpd.sjoin(lic_pts, valid, predicate="within")
    placed = gpd.sjoin(cmp_pts, valid, how="left", predicate="within")
    return {"compute_seconds": time.perf_counter() - started,
            "compute_cpu_s": time.process_time() - cpu,
            "rows": len(union) + len(on_pbf) + len(placed)}


def reference_ogr2ogr(ctx: Context) -> Result:
    """ogr2ogr of the farmland layers (every PBF file, the HSF file) into PostGIS with COPY,
    reprojected to EPSG:4490 as yitu stores them."""
    from sqlalchemy.engine import make_url

    u = make_url(ctx.url)
    target = (f"PG:host={u.host} port={u.port or 5432} user={u.username} dbname={u.database}"
              + (f" password={u.password}" if u.password else ""))
    _sql(ctx, "CREATE SCHEMA IF NOT EXISTS ref_load")
    server = ctx.server_cpu()
    total: Result = {"seconds": 0.0, "cpu_s": 0.0, "peak_rss_mib": 0.0}
    for f in ctx.manifest["files"]:
        if f["dataset"] not in ("farmland_pbf", "farmland_hsf"):
            continue
        path = ctx.files / f["file"]
        src = f"/vsizip/{path}" if path.suffix == ".zip" else str(path)
        r = run_measured(["ogr2ogr", "-f", "PostgreSQL", target, src, "--config", "PG_USE_COPY",
                          "YES", "--config", "SHAPE_ENCODING", "GBK", "-lco", "GEOMETRY_NAME=geom",
                          "-nln", f"ref_load.{f['dataset']}", "-append",
                          "-t_srs", "EPSG:4490", "-nlt", "MULTIPOLYGON"])
        for k in ("seconds", "cpu_s"):
            total[k] += r[k]
        total["peak_rss_mib"] = max(total["peak_rss_mib"], r["peak_rss_mib"])
    time.sleep(0.3)
    total["cpu_s"] += ctx.server_cpu() - server
    return total


def _sql(ctx: Context, sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(ctx.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def child(name: str, files: Path) -> Result:
    """A reference step in a child process: its own peak RSS."""
    r = run_measured([sys.executable, __file__, "--child", name, str(files)])
    r.update(json.loads(r.pop("stdout").strip().splitlines()[-1]))
    return r


# -- one size, all sizes -----------------------------------------------------------------------


def rows_of(manifest: dict[str, Any]) -> int:
    return sum(f["rows"] for f in manifest["files"])


def measure_size(fraction: float, work: Path, server_url: str, cluster: Cluster | None,
                 modes: list[str]) -> Result:
    files = work / f"files_{fraction:g}"
    done = files / "generate.json"  # a --work folder keeps the files of an earlier run
    if done.exists():
        generate = json.loads(done.read_text("utf-8"))
    else:
        shutil.rmtree(files, ignore_errors=True)
        generate = run_measured([sys.executable, "-m", "pipelines.sample", str(files),
                                 "--seed", str(SEED), "--province", f"{fraction:g}"])
        generate.pop("stdout")
        done.write_text(json.dumps(generate), "utf-8")
    print(f"{fraction:g}x generated in {generate['seconds']:.0f} s", flush=True)
    db = f"province_{str(fraction).replace('.', '_')}_{int(time.time())}"
    from sqlalchemy import create_engine, text

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db}"))
    url = server_url.rsplit("/", 1)[0] + f"/{db}"
    home = work / f"home_{fraction:g}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    ctx = Context(fraction, files, home / "var", url, cluster,
                  json.loads((files / "manifest.json").read_text("utf-8")))
    out: Result = {"fraction": fraction, "rows": rows_of(ctx.manifest),
                   "sizes": ctx.manifest["sizes"], "files": len(ctx.manifest["files"]),
                   "generate": generate}
    try:
        for mode in modes:
            fn = MODES[mode]
            if fn is None:
                out[mode] = {"not_built": True}
                continue
            out[mode] = fn(ctx)
            print(f"{fraction:g}x ({mode}): {out[mode]['seconds']:.0f} s", flush=True)
        if FIRST_LOAD_ONLY:  # the modes compared, nothing else (e.g. (a) against (b))
            return out
        out["ref_read"] = child("read", files)
        out["ref_ogr2ogr"] = reference_ogr2ogr(ctx)
        out["ref_overlay"] = child("overlay", files)
        print(f"{fraction:g}x references done", flush=True)
        out["daily"] = mode_daily(ctx)
        print(f"{fraction:g}x daily: {out['daily']['seconds']:.0f} s", flush=True)
        out["resend"] = mode_resend(ctx)
        print(f"{fraction:g}x resend: {out['resend']['seconds']:.0f} s", flush=True)
    finally:
        admin.dispose()
    out["ctx"] = ctx
    return out


def profile_daily(ctx: Context, out: Path) -> str:
    """cProfile of one more daily delivery's `yitu run` (profiling slows it: figures unused)."""
    day = daily_orders(ctx, ctx.home.parent / "day_profiled.csv", "20261117")
    ctx.yitu("drop", str(day), "--dataset", "complaints")
    run_measured([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "pipelines.cli", "run"],
                 ctx.env())
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(12)
    lines = [ln for ln in text.getvalue().splitlines() if ln.strip()]
    return "\n".join(ln.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", "")
                     for ln in lines if not ln.startswith(("   Ordered", "   List")))


# -- the report --------------------------------------------------------------------------------


def exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x)."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    var = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / var if var else None


def chart(results: list[Result], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] for r in results]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    series = [("(a) full load, yitu", lambda r: r["cli"]["cpu_s"], "o-"),
              ("(c) daily 10k orders", lambda r: r["daily"]["cpu_s"], "s-"),
              ("(d) one county's PBF", lambda r: r["resend"]["cpu_s"], "^-"),
              ("references: read + ogr2ogr + overlay/sjoin",
               lambda r: r["ref_read"]["cpu_s"] + r["ref_ogr2ogr"]["cpu_s"]
               + r["ref_overlay"]["compute_cpu_s"], "d--")]
    for label, value, style in series:
        ax.plot(rows, [value(r) for r in results], style, label=label)
    if len(rows) > 1:
        lo, hi = min(rows), max(rows)
        base = results[0]["cli"]["cpu_s"]
        ax.plot([lo, hi], [base, base * hi / lo], ":", color="grey", label="linear from the smallest")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rows delivered (all five datasets)")
    ax.set_ylabel("CPU seconds (client + PostgreSQL server)")
    ax.set_title("yitu on PostGIS, drop -> published, by province size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _f(x: float, nd: int = 1) -> str:
    return f"{x:,.{nd}f}"


def report(results: list[Result], command: str, png: Path | None, profile: str | None,
           external: bool) -> str:
    import geopandas
    import pyogrio

    ogr = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout.strip()
    out = ["# A province through yitu on PostGIS", "",
           f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `{command}` on {platform.machine()}, "
           f"{os.cpu_count()} cores shared with other work; Python {platform.python_version()}, "
           f"pyogrio {pyogrio.__version__} (GDAL {pyogrio.__gdal_version_string__}), geopandas "
           f"{geopandas.__version__}, {ogr}. Files from `yitu sample --province F --seed {SEED}` "
           "(a province: 1,000,000 PBF parcels, 300,000 HSF polygons, 1,000,000 licences, "
           "1,000,000 work orders). Each step in processes of its own: seconds are wall clock, "
           "CPU s the command and every process it waited for"
           + ("" if external else " plus the PostgreSQL server's") + ", peak RSS the largest "
           "process (rusage). Wall seconds depend on the shared machine's load; CPU seconds are "
           "the comparable figure.", "",
           "## Drop -> published", "",
           "| size | rows | step | wall s | CPU s | peak RSS MiB | drops (state: count) |",
           "|---|---:|---|---:|---:|---:|---|"]
    for r in results:
        for key, label in (("cli", "(a) first full load: yitu drop + yitu run"),
                           ("scheduler", "(b) the same through the scheduler, 2 Celery workers"),
                           ("scheduler-no-preload", "(b) without the workers' preload "
                            "(Airflow's own Celery settings)"),
                           ("scheduler-test-pace", "(b) at the Celery test's pace (1 s "
                            "heartbeats)"),
                           ("daily", f"(c) daily delivery of {DAILY_ORDERS:,} work orders"),
                           ("resend", "(d) one county's PBF resend")):
            m = r.get(key)
            if m is None:
                if key == "scheduler":
                    out.append(f"| {r['fraction']:g}x | {r['rows']:,} | {label} | not run "
                               "(`--modes cli,scheduler`) | | | |")
                continue
            states = ", ".join(f"{k} {v}" for k, v in sorted(m["states"].items()))
            extra = f" ({m['county']}; the median of {len(m['runs_s'])} runs: " + ", ".join(
                _f(x) for x in m["runs_s"]) + " s)" if key == "resend" else ""
            out.append(f"| {r['fraction']:g}x | {r['rows']:,} | {label}{extra} | "
                       f"{_f(m['seconds'])} | {_f(m['cpu_s'])} | {_f(m['peak_rss_mib'], 0)} | "
                       f"{states} |")
    from bench.province_celery import report_lines

    out += report_lines(results)
    out += ["", "Files written by `yitu sample --province F`: " + "; ".join(
        f"{r['fraction']:g}x {r['files']} files in {_f(r['generate']['seconds'], 0)} s "
        f"({_f(r['generate']['cpu_s'], 0)} CPU s, peak {_f(r['generate']['peak_rss_mib'], 0)} MiB)"
        for r in results) + "."]
    out += ["", "## Per stage (yitu's own figures: `yitu status --json` notes.stages summed over "
            "the drops, audit.meta `last_integration_cost`)", "",
            "| size | step | stage | wall s | CPU s | peak RSS MiB | rows |",
            "|---|---|---|---:|---:|---:|---:|"]
    for r in results:
        for key in ("cli", "daily", "resend"):
            m = r[key]
            out.append(f"| {r['fraction']:g}x | {key} | drop (`yitu drop` of each file) | "
                       f"{_f(m['drop']['seconds'])} | {_f(m['drop']['cpu_s'])} | "
                       f"{_f(m['drop']['peak_rss_mib'], 0)} | |")
            for name, s in m["stages"].items():
                out.append(f"| {r['fraction']:g}x | {key} | {name} | {_f(s['seconds'])} | "
                           f"{_f(s['cpu_s'])} | {_f(s['peak_rss_mib'], 0)} | "
                           f"{int(s['rows'] or 0):,} |")
            out.append(f"| {r['fraction']:g}x | {key} | PostgreSQL server (CPU only) | | "
                       f"{_f(m['server_cpu_s'])} | | |")
    out += ["", "## Against the reference tools, same files, same run", "",
            "| size | yitu | s / CPU s | reference | s / CPU s | ratio wall | ratio CPU |",
            "|---|---|---:|---|---:|---:|---:|"]
    for r in results:
        st = r["cli"]["stages"]

        def pair(name: str, yitu_s: float, yitu_cpu: float, ref: str, ref_s: float,
                 ref_cpu: float, r: Result = r) -> str:
            return (f"| {r['fraction']:g}x | {name} | {_f(yitu_s)} / {_f(yitu_cpu)} | {ref} | "
                    f"{_f(ref_s)} / {_f(ref_cpu)} | **{yitu_s / max(ref_s, 1e-9):.2f}** | "
                    f"{yitu_cpu / max(ref_cpu, 1e-9):.2f} |")

        read = st.get("read", {"seconds": 0, "cpu_s": 0})
        out.append(pair("read (every drop's read stage)", read["seconds"], read["cpu_s"],
                        "pyogrio (Arrow) / pandas read of every file",
                        r["ref_read"]["seconds"], r["ref_read"]["cpu_s"]))
        load = st.get("load", {"seconds": 0, "cpu_s": 0})
        out.append(pair("load (every drop's load stage, all datasets)", load["seconds"],
                        load["cpu_s"], "ogr2ogr PG_USE_COPY=YES, the farmland layers only", r["ref_ogr2ogr"]["seconds"],
                        r["ref_ogr2ogr"]["cpu_s"]))
        integ = st.get("integrate", {"seconds": 0, "cpu_s": 0})
        out.append(pair("integrate (all six layers)", integ["seconds"], integ["cpu_s"],
                        "geopandas overlay(union) + 2 sjoin (compute only)",
                        r["ref_overlay"]["compute_seconds"], r["ref_overlay"]["compute_cpu_s"]))
        refs = (r["ref_read"]["seconds"] + r["ref_ogr2ogr"]["seconds"]
                + r["ref_overlay"]["compute_seconds"])
        refs_cpu = (r["ref_read"]["cpu_s"] + r["ref_ogr2ogr"]["cpu_s"]
                    + r["ref_overlay"]["compute_cpu_s"])
        out.append(pair("(a) whole first load", r["cli"]["seconds"], r["cli"]["cpu_s"],
                        "the three references summed", refs, refs_cpu))
    out += ["", "The references do less than yitu: no encoding or header detection, no "
            "validation, no quarantine or answers, no versioning, no disjoint pieces where "
            "parcels overlap, no county cuts, ellipsoidal areas, conflicts or SLA rules; "
            "ogr2ogr loads only the two farmland layers (GDAL's CSV driver cannot read the "
            "GBK hotline export as such). A ratio says how much the extra work costs."]
    pts = [(r["rows"], r["cli"]["cpu_s"]) for r in results]
    slope = exponent(pts)
    largest = max(results, key=lambda r: r["rows"])
    measured_1x = any(abs(r["fraction"] - 1.0) < 1e-9 for r in results)
    if slope is not None and not measured_1x:
        f = 1.0 / largest["fraction"]
        full_1x = largest["cli"]["seconds"] * f ** slope
        full_1x_cpu = largest["cli"]["cpu_s"] * f ** slope
        note = (f"1x not measured: extrapolated from {largest['fraction']:g}x with the "
                f"exponent, {_f(full_1x, 0)} s wall, {_f(full_1x_cpu, 0)} CPU s")
    else:
        full_1x = largest["cli"]["seconds"] if measured_1x else float("nan")
        note = "1x measured" if measured_1x else "a single size: no exponent"
    fractions = ", ".join(f"{r['fraction']:g}x" for r in results)
    out += ["", "## Growth", "",
            "Growth exponent, the log-log slope of (a)'s CPU seconds against rows delivered "
            f"({fractions}): "
            + (f"**{slope:.2f}**" if slope is not None else "n/a") + f". {note}."]
    for key, label in (("daily", "(c)"), ("resend", "(d)")):
        s = exponent([(r["rows"], r[key]["cpu_s"]) for r in results])
        if s is not None:
            out.append(f"Exponent of {label} against the rows already loaded: {s:.2f}.")
    if png is not None:
        out += ["", f"![CPU seconds against rows]({png.name})"]
    peak = max(max(r[k]["peak_rss_mib"] for k in ("cli", "daily", "resend")) for r in results)
    tree = max(max(r[k]["tree_rss_mib"] for k in ("cli", "daily", "resend")) for r in results)
    peaks = [(r["rows"], max(r[k]["peak_rss_mib"] for k in ("cli", "daily", "resend")))
             for r in results]
    peak_slope = exponent(peaks)
    share = largest["resend"]["seconds"] / largest["cli"]["seconds"]
    at = f"{largest['fraction']:g}x"
    out += ["", "## Targets", "",
            "Measured at the largest size run; where that is not 1x, a target missed there is "
            "missed at 1x too (every step grows with the rows), and one met there is not shown "
            "for 1x.", "", "| target | measured | met |", "|---|---|---|"]

    def verdict(ok: bool, exact: bool) -> str:
        if exact:
            return "yes" if ok else "**no**"
        return "not shown at 1x" if ok else f"**no** (already at {at})"

    full = (f"{_f(full_1x, 0)} s wall" + ("" if measured_1x else
                                         f" (extrapolated from {at}, exponent {slope:.2f})"
                                         if slope is not None else ""))
    out.append(f"| full province load <= 10 min | {full} | "
               + ("n/a" if math.isnan(full_1x) else
                  ("yes" if full_1x <= TARGETS["full_load_s"] else "**no**")
                  + ("" if measured_1x else " (extrapolated)")) + " |")
    out.append(f"| daily 10k orders <= 30 s drop -> published | "
               f"{_f(largest['daily']['seconds'])} s at {at} | "
               f"{verdict(largest['daily']['seconds'] <= TARGETS['daily_s'], measured_1x)} |")
    cpu_share = largest["resend"]["cpu_s"] / largest["cli"]["cpu_s"]
    out.append(f"| one county's PBF resend <= 10 % of the full run | {share:.0%} at {at} "
               f"(wall; {cpu_share:.0%} of its CPU s) | "
               f"{verdict(share <= TARGETS['resend_share'], measured_1x)} |")
    out.append("| growth exponent <= 1.1 | "
               + (f"{slope:.2f} ({fractions}) | "
                  + ("yes" if slope <= TARGETS["exponent"] else "**no**")
                  if slope is not None else "n/a | n/a") + " |")
    peak_1x = (peak * (1 / largest["fraction"]) ** peak_slope
               if peak_slope is not None and not measured_1x else peak)
    out.append(f"| task peak <= 4 GiB (largest process of any step) | {_f(peak, 0)} MiB at {at}"
               f" (process tree summed: {_f(tree, 0)} MiB)"
               + ("" if measured_1x else f"; extrapolated to 1x: {_f(peak_1x, 0)} MiB") + " | "
               + (("yes" if peak <= TARGETS["peak_mib"] else "**no**") if measured_1x else
                  ("yes (extrapolated)" if peak_1x <= TARGETS["peak_mib"]
                   else "**no** (extrapolated)")) + " |")
    if largest.get("scheduler"):
        ratio = largest["scheduler"]["cpu_s"] / largest["cli"]["cpu_s"]
        out.append(f"| Airflow route (b) <= 1.25x the CLI's CPU s | {ratio:.2f}x at {at} | "
                   + ("yes" if ratio <= 1.25 else "**no**") + " |")
    if profile:
        out += ["", f"## cProfile of a daily delivery's `yitu run` at {largest['fraction']:g}x",
                "", "```", profile, "```"]
    return "\n".join(out) + "\n"


def save(results: list[Result], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([{k: v for k, v in r.items() if k != "ctx"} for r in results],
                               indent=1, default=str), encoding="utf-8")


def main() -> int:
    global DAILY_ORDERS, JOBS, FIRST_LOAD_ONLY, RESENDS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.1,0.3",
                        help="fractions of a province, comma-separated (1 takes long)")
    parser.add_argument("--modes", default="cli", help="load modes for the first full load, "
                        "comma-separated: cli, scheduler (two Celery workers; compared with cli "
                        "when both run), scheduler-no-preload (the same without the workers' "
                        "preload), scheduler-test-pace (with the Celery test's 1 s heartbeats)")
    parser.add_argument("--warehouse-url", help="a PostgreSQL server to create the databases "
                        "on (default: a throwaway cluster of our own)")
    parser.add_argument("--work", type=Path, help="folder for files and homes (default: temp)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--daily-orders", type=int, default=DAILY_ORDERS,
                        help="work orders in the daily delivery (c)")
    parser.add_argument("--jobs", type=int, default=JOBS,
                        help="processes of each `yitu run` (its --jobs): 2 uses both cores")
    parser.add_argument("--resends", type=int, default=RESENDS,
                        help="runs of (d), each on a copy of the warehouse: the median is "
                             "reported")
    parser.add_argument("--first-load-only", action="store_true",
                        help="only the first full load in each mode (no references, (c) or "
                             "(d)); prints each size's JSON instead of writing the report")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile one more daily delivery at the largest size")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--drops", help=argparse.SUPPRESS)
    args = parser.parse_args()
    DAILY_ORDERS, JOBS, FIRST_LOAD_ONLY = args.daily_orders, args.jobs, args.first_load_only
    RESENDS = max(1, args.resends)
    if args.drops:
        from pipelines.cli import main as yitu

        for dataset, path in json.loads(args.drops):
            if yitu(["drop", path, "--dataset", dataset]) != 0:
                return 1
        return 0
    if args.child:
        name, files = args.child
        fn = {"read": reference_read, "overlay": reference_overlay}[name]
        print(json.dumps(fn(Path(files))))
        return 0
    modes = args.modes.split(",")
    for m in modes:
        if m not in MODES:
            parser.error(f"unknown mode {m}")
        if MODES[m] is None:
            parser.error(f"mode {m} is not built yet (see MODES in {__file__})")
    sizes = sorted(float(s) for s in args.sizes.split(","))
    work = args.work or Path(tempfile.mkdtemp(prefix="yitu-province-"))
    cluster = None if args.warehouse_url else start_cluster()
    server_url = args.warehouse_url or cluster.url("postgres")  # type: ignore[union-attr]
    results: list[Result] = []
    profile = None
    try:
        for fraction in sizes:
            results.append(measure_size(fraction, work, server_url, cluster, modes))
            save(results, args.out.with_suffix(".json"))  # what a later size's failure keeps
        if FIRST_LOAD_ONLY:
            print(f"wrote {args.out.with_suffix('.json')} (first loads only: no report)")
            return 0
        if args.profile:
            profile = profile_daily(results[-1]["ctx"], work / "daily.prof")
    finally:
        if cluster is not None:
            stop_cluster(cluster)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    png = args.out.with_suffix(".png")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    chart(results, png)
    command = " ".join(["python bench/province.py", *sys.argv[1:]])
    args.out.write_text(report(results, command, png, profile, bool(args.warehouse_url)),
                        encoding="utf-8")
    save(results, args.out.with_suffix(".json"))
    print(f"wrote {args.out}, {png.name}, {args.out.with_suffix('.json').name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
