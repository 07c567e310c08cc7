r"""Warehouse I/O: yitu's GeoPackage and PostGIS warehouses against the libraries' own tools.

    uv run --frozen python bench/warehouse_io.py [--rows 200000] [--repeat 1] [--out FILE]

Synthesises 200k 12345 work orders (points) and 200k farmland parcels (16-vertex polygons)
with their contracts' core columns, as `load_core` is handed them, and starts a throwaway
PostgreSQL cluster on 127.0.0.1 (as tests/conftest.py does). Every yitu or pyogrio step runs
in a child process of its own:

- load: `load_core` into a set-up warehouse (PostGIS: the core table with its GiST, drop and
  current-key indexes) against pyogrio's Arrow writer of the same typed rows to a new
  GeoPackage, and `ogr2ogr -f PostgreSQL --config PG_USE_COPY YES` of that file to a new table;
- read: `read_current` against `pyogrio.read_dataframe(use_arrow=True)` of that file, and on
  PostGIS against geopandas' `read_postgis` (yitu's former path) and psql's `\copy` of the same
  rows to /dev/null (the floor: the server's work and the transfer);
- publish: both datasets as two labelled layers (PostGIS: staged, indexed, commented, swapped
  in with their OGC views) against pyogrio's Arrow writer and ogr2ogr of the two layers.
Each step runs `--repeat` times, the fastest kept; the report (bench/results/warehouse_io.md)
says how time, CPU and RSS are counted. `--in-process`: all steps in this process (smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "warehouse_io.md"
DATASETS = {"complaints": "work orders", "farmland_pbf": "parcels"}
LOADED_AT = "2026-11-16T04:00:00+00:00"
Result = dict[str, Any]
# (yitu's step, the reference's), each warehouse:operation:tool:dataset, in the order they run
PAIRS = [(f"{w}:{op}:yitu:{d}", f"{w}:{op}:{ref}:{d}") for d in DATASETS for w, op, ref in (
    ("gpkg", "load", "arrow"), ("gpkg", "read", "arrow"), ("pg", "load", "ogr2ogr"),
    ("pg", "read", "read_postgis"), ("pg", "read", "psql"))] + [
    ("gpkg:publish:yitu:both", "gpkg:publish:arrow:both"),
    ("pg:publish:yitu:both", "pg:publish:ogr2ogr:both")]
TOOLS = {"arrow": "pyogrio Arrow writer/reader", "ogr2ogr": "ogr2ogr PG_USE_COPY",
         "read_postgis": "geopandas.read_postgis", "psql": "psql COPY to /dev/null (floor)"}


def synth(dataset: str, rows: int, seed: int = 42) -> Any:
    """`rows` rows of `dataset` with its core columns, typed as the reader hands them over."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd
    import shapely

    from pipelines.contracts import load_contract
    from pipelines.warehouse.columns import attribute_columns

    rng = np.random.default_rng(seed)
    contract = load_contract(dataset)
    pool = np.array(["".join(map(chr, rng.integers(0x4E00, 0x5A00, rng.integers(2, 40))))
                     for _ in range(4000)], dtype=object)  # 4,000 texts of 2-40 characters
    cols: dict[str, Any] = {}
    for col in attribute_columns(contract):
        if col.name == contract.key_column:
            values: Any = np.array([f"K{i:012d}" for i in range(rows)], dtype=object)
        elif col.kind == "string":
            values = pool[rng.integers(0, len(pool), rows)]
            values[rng.random(rows) < 0.05] = None
        elif col.kind in ("integer", "number"):
            values = rng.integers(0, 100_000, rows) * (1 if col.kind == "integer" else 0.01)
        elif col.kind == "boolean":  # 10% unknown
            values = pd.array(np.where(rng.random(rows) < 0.1, None, rng.random(rows) < 0.9))
        else:  # date, datetime
            values = (pd.Timestamp("2026-01-01")
                      + pd.to_timedelta(rng.integers(0, 300 * 86400, rows), unit="s"))
        cols[col.name] = pd.Series(values).astype("str") if col.kind == "string" else values
    cols.update(_drop_id=f"bench-{dataset}", _source_file=f"{dataset}.xlsx",
                _source_row=np.arange(2, rows + 2),
                _flags=pd.Series(np.where(rng.random(rows) < 0.1, "coords_rounded", None)))
    x, y = 108.7 + rng.random(rows) * 2.3, 18.2 + rng.random(rows) * 1.8
    if contract.geometry.endswith("Point"):
        geom = shapely.points(x, y)
    else:
        angle = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        r = 0.0004 * (0.6 + 0.4 * rng.random((rows, 16)))
        xs, ys = x[:, None] + r * np.cos(angle), y[:, None] + r * np.sin(angle)
        ring = np.stack([np.hstack([xs, xs[:, :1]]), np.hstack([ys, ys[:, :1]])], axis=-1)
        geom = shapely.multipolygons(shapely.polygons(ring)[:, None])
    return gpd.GeoDataFrame(pd.DataFrame(cols), geometry=gpd.GeoSeries(geom, crs=4490))


def step(name: str, work: Path, url: str) -> Result:
    """One measured step in this process; `name` is warehouse:operation:tool:dataset."""
    from datetime import datetime

    import geopandas as gpd
    import pyogrio

    from pipelines.contracts import load_contract
    from pipelines.warehouse import open_warehouse
    from pipelines.warehouse.base import versioned
    from pipelines.warehouse.columns import attribute_columns, core_columns

    where, op, tool, dataset = name.split(":")
    wh = open_warehouse(f"gpkg://{work}/gpkg/warehouse.gpkg" if where == "gpkg" else url)
    at = datetime.fromisoformat(LOADED_AT)
    frames = {d: gpd.read_parquet(work / f"{d}.parquet")
              for d in (DATASETS if dataset == "both" else [dataset])}
    contracts = {d: load_contract(d) for d in frames}
    # What the reference tools write: the rows as yitu types them (publish: attributes only).
    typed = {d: versioned(contracts[d], f, at)[[c.name for c in (
        attribute_columns if op == "publish" else core_columns)(contracts[d])] + ["geom"]]
        for d, f in frames.items()} if tool == "arrow" or op == "publish" else {}
    wh.ensure_ready() if (op, tool) == ("load", "yitu") else None
    rows = sum(len(f) for f in frames.values())
    started, cpu = time.perf_counter(), time.process_time()
    if (op, tool) == ("load", "yitu"):
        wh.load_core(contracts[dataset], frames[dataset], f"bench-{dataset}", at, lambda c: None)
    elif (op, tool) == ("read", "yitu"):
        rows = len(wh.read_current(contracts[dataset]))
    elif (op, tool) == ("read", "arrow"):
        rows = len(pyogrio.read_dataframe(work / "ref" / f"{dataset}.gpkg", use_arrow=True))
    elif (op, tool) == ("read", "read_postgis"):
        rows = len(gpd.read_postgis(f"SELECT * FROM core.{dataset} WHERE _valid_to IS NULL",
                                    wh.engine, geom_col="geom"))
    elif (op, tool) == ("publish", "yitu"):
        wh.publish(typed, {d: {"": c.title, **{a.name: a.label for a in attribute_columns(c)}}
                           for d, c in contracts.items()})
    elif tool == "arrow":  # load and publish: each dataset a layer of a new file
        target = work / "ref" / ("publish.gpkg" if op == "publish" else f"{dataset}.gpkg")
        for d, t in typed.items():
            pyogrio.write_dataframe(t, target, layer=d, use_arrow=True,
                                    dataset_options={"VERSION": "1.2"})
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) / 1024
    return {"seconds": seconds, "cpu_s": cpu, "rows": rows, "peak_rss_mib": peak}


def run_tool(cmd: list[str]) -> Result:
    """A reference command line, timed with its own rusage (wait4)."""
    started = time.perf_counter()
    _, status, usage = os.wait4(subprocess.Popen(cmd, stdout=subprocess.DEVNULL).pid, 0)
    assert status == 0, f"{cmd[0]} failed ({status}): {' '.join(cmd)}"
    return {"seconds": time.perf_counter() - started, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mib": usage.ru_maxrss / 1024}


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth), its server CPU readable."""

    def __init__(self, settings: str = "-c autovacuum=off") -> None:
        from tests.conftest import _as_postgres, _free_port, _pg_bindir

        self.bindir, self.port, self.as_pg = _pg_bindir(), _free_port(), _as_postgres
        self.data = Path(tempfile.mkdtemp(prefix="yitu-bench-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
        subprocess.run(self.as_pg([str(self.bindir / "initdb"), "-D", str(self.data), "-U",
                                   "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"]),
                       check=True, capture_output=True)
        # autovacuum off (the default settings): the server's CPU during a step is that step's
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off " \
            + settings
        self._ctl("-w", "-l", str(self.data / "log"), "-o", options, "start")

    def _ctl(self, *args: str) -> None:
        subprocess.run(self.as_pg([str(self.bindir / "pg_ctl"), "-D", str(self.data), *args]),
                       check=True, capture_output=True)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def psql(self, db: str, sql: str) -> list[str]:
        return [str(self.bindir / "psql"), "-qX", self.url(db).replace("+psycopg", ""), "-c", sql]

    def cpu_s(self) -> float:
        """CPU of the server: the postmaster, the backends it reaped and those alive."""
        postmaster, ticks = (self.data / "postmaster.pid").read_text().split()[0], 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with suppress(OSError):  # a process that ended meanwhile
                f = stat.read_text().rsplit(")", 1)[1].split()
                mine = stat.parent.name == postmaster
                ticks += sum(map(int, f[11:15 if mine else 13])) if mine or f[1] == postmaster \
                    else 0
        return ticks / os.sysconf("SC_CLK_TCK")


def measure(name: str, work: Path, cluster: Cluster, db: str, in_process: bool) -> Result:
    server = cluster.cpu_s()
    where, op, tool, dataset = name.split(":")
    if tool == "ogr2ogr":
        src = work / "ref" / ("publish.gpkg" if op == "publish" else f"{dataset}.gpkg")
        target = f"PG:host=127.0.0.1 port={cluster.port} user=postgres dbname={db}"
        result = run_tool(["ogr2ogr", "-f", "PostgreSQL", target, str(src),
                           "--config", "PG_USE_COPY", "YES", "-lco", f"SCHEMA=ref_{op}",
                           "-lco", "GEOMETRY_NAME=geom", "-overwrite"])
    elif tool == "psql":
        result = run_tool(cluster.psql(db, f"\\copy (SELECT * FROM core.{dataset} WHERE "
                                           "_valid_to IS NULL) TO '/dev/null'"))
    else:
        result = (step if in_process else child)(name, work, cluster.url(db))
    if where == "pg":
        time.sleep(0.3)  # let the postmaster reap the backends that served the step
        result["cpu_s"] += cluster.cpu_s() - server
    return result


def write_frames(rows: int, work: Path) -> Result:
    return {d: synth(d, rows).to_parquet(work / f"{d}.parquet") for d in DATASETS}


def child(name: str, work: Path, url: str) -> Result:
    done = subprocess.run([sys.executable, __file__, "--child", name, str(work), url],
                          check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(rows: int, repeat: int, in_process: bool) -> dict[str, Result]:
    best: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="yitu-bench-") as tmp:
        work = Path(tmp)
        # In a child: this process stays small, as the command lines it starts inherit its
        # peak RSS in their rusage.
        child(f"synth:{rows}", work, "") if not in_process else write_frames(rows, work)
        cluster = Cluster()
        try:
            for i in range(repeat):
                db = f"bench{i}"
                subprocess.run(cluster.psql("postgres", f"CREATE DATABASE {db}"), check=True)
                subprocess.run(cluster.psql(db, "CREATE EXTENSION postgis; CREATE SCHEMA "
                                            "ref_load; CREATE SCHEMA ref_publish"), check=True)
                for folder in ("gpkg", "ref"):
                    shutil.rmtree(work / folder, ignore_errors=True)
                    (work / folder).mkdir()
                for name in dict.fromkeys(n for pair in PAIRS for n in pair):
                    r = measure(name, work, cluster, db, in_process)
                    print(name, json.dumps(r), flush=True)
                    if name not in best or r["seconds"] < best[name]["seconds"]:
                        best[name] = r
        finally:
            cluster._ctl("-m", "immediate", "stop")
            shutil.rmtree(cluster.data, ignore_errors=True)
    return best


def report(best: dict[str, Result], rows: int, repeat: int, command: str) -> str:
    import geopandas
    import pyogrio

    ogr = subprocess.run(["ogr2ogr", "--version"], capture_output=True, text=True).stdout
    out = ["# Warehouse I/O: yitu against the libraries' own tools", "", (
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} by `{command}` on {platform.machine()}, "
        f"{os.cpu_count()} cores shared with other work; Python {platform.python_version()}, "
        f"pyogrio {pyogrio.__version__} (GDAL {pyogrio.__gdal_version_string__}), geopandas "
        f"{geopandas.__version__}, ogr2ogr of {ogr.strip()}. {rows:,} rows per dataset, fastest of "
        f"{repeat}. CPU s: the measuring process or command, plus on PostGIS the server's. "
        "Peak RSS: the measuring process (VmHWM, imports included) or command (rusage). "
        "Ratio: yitu / reference."), "",
        "| warehouse | step | rows | yitu s | ref s | ratio | yitu CPU s | ref CPU s | "
        "CPU ratio | yitu RSS MiB | ref RSS MiB | reference |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for mine, ref in PAIRS:
        (a, b), (where, op, _, dataset) = (best[mine], best[ref]), mine.split(":")
        out.append(
            f"| {'GeoPackage' if where == 'gpkg' else 'PostGIS'} | {op} "
            f"{DATASETS.get(dataset, 'both layers')} | {a['rows']:,} | {a['seconds']:.2f} | "
            f"{b['seconds']:.2f} | **{a['seconds'] / b['seconds']:.2f}** | {a['cpu_s']:.2f} | "
            f"{b['cpu_s']:.2f} | {a['cpu_s'] / max(b['cpu_s'], 1e-9):.2f} | "
            f"{a['peak_rss_mib']:,.0f} | {b['peak_rss_mib']:,.0f} | {TOOLS[ref.split(':')[2]]} |")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--in-process", action="store_true")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, work, url = args.child
        print(json.dumps(write_frames(int(name[6:]), Path(work)) if name.startswith("synth:")
                         else step(name, Path(work), url)))
        return
    best = run(args.rows, args.repeat, args.in_process)
    command = " ".join(["python bench/warehouse_io.py", *sys.argv[1:]])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report(best, args.rows, args.repeat, command), encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
