"""Integration at scale: 1M farmland parcels and 1M points, timed against plain geopandas.

    uv run --frozen python bench/integration_scale.py [--parcels 1000000] [--points 1000000]

Inputs are synthesised directly as `Inputs` frames (what `load_inputs` hands the integration),
shaped like a cadastre rather than like a grid of identical squares:
- counties: a 4 x 4 block of rectangles; parcels crossing a county line are cut by it;
- PBF parcels: the cells of a jittered lattice (neighbours share their edges exactly, as in a
  real parcel layer), ~8% of cells left out (roads, villages), 0.3% delivered twice shifted
  half a cell (overlapping parcels), 0.2% stated in the wrong county;
- HSF projects: one per ~15 parcels, jittered rectangles a few parcels wide, covering ~70% of
  the farmland and reaching outside it at their edges; 2% overlap a neighbouring project;
- points: 30% licences, 70% 12345 work orders, 2% outside every county, dates across 2026.

Each measurement runs in a child process (`--one MODE`) so that its peak RSS (ru_maxrss) is
its own. MODEs: `unpartitioned` (what `yitu run` does), `partitioned` (every county in turn,
then `finish`, as the Airflow DAG does in separate tasks), `reference` (the same PBF/HSF frames
through `geopandas.overlay(how="union")` and the points through one `sjoin` each: the plain
library baseline, without disjoint pieces, county cuts, ellipsoidal areas or SLA rules).
Results go to bench/results/integration_scale.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.integrate import (  # noqa: E402
    Inputs,
    finish,
    integrate_county,
    integrate_unpartitioned,
    partitions,
)
from pipelines.integrate.inputs import COUNTY, locate  # noqa: E402

AS_OF = datetime(2026, 11, 16, 12)
LON0, LAT0 = 109.5, 19.0
COUNTY_GRID = 4
CELL = 0.0006  # degrees: parcels of ~60 m x 65 m, ~6 mu, typical of Hainan's PBF parcels
PARCELS_PER_PROJECT = 15
LICENCE_SHARE = 0.3


def _lattice_side(parcels: int) -> int:
    return int(np.ceil(np.sqrt(parcels / 0.92)))


def synth_counties(side: int) -> gpd.GeoDataFrame:
    extent = side * CELL
    step = extent / COUNTY_GRID
    boxes, codes = [], []
    for i in range(COUNTY_GRID):
        for j in range(COUNTY_GRID):
            boxes.append(shapely.box(LON0 + i * step, LAT0 + j * step,
                                     LON0 + (i + 1) * step, LAT0 + (j + 1) * step))
            codes.append(f"4690{i * COUNTY_GRID + j + 1:02d}")
    return gpd.GeoDataFrame({COUNTY: codes, "county_name": [f"县{c}" for c in codes]},
                            geometry=boxes, crs=4490).rename_geometry("geom")


def synth_pbf(parcels: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    side = _lattice_side(parcels)
    gx, gy = np.meshgrid(np.arange(side + 1), np.arange(side + 1), indexing="ij")
    jitter = rng.uniform(-0.25, 0.25, size=(2, side + 1, side + 1))
    vx = LON0 + (gx + jitter[0]) * CELL
    vy = LAT0 + (gy + jitter[1]) * CELL
    # the lattice's outer vertices stay on the extent, so no parcel pokes out of every county
    vx[0, :], vx[-1, :] = LON0, LON0 + side * CELL
    vy[:, 0], vy[:, -1] = LAT0, LAT0 + side * CELL
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    i, j = i.ravel(), j.ravel()
    keep = rng.random(len(i)) > 0.08
    i, j = i[keep][:parcels], j[keep][:parcels]
    ring = np.stack([np.stack([vx[i, j], vy[i, j]], -1), np.stack([vx[i + 1, j], vy[i + 1, j]], -1),
                     np.stack([vx[i + 1, j + 1], vy[i + 1, j + 1]], -1),
                     np.stack([vx[i, j + 1], vy[i, j + 1]], -1),
                     np.stack([vx[i, j], vy[i, j]], -1)], axis=1)
    geoms = shapely.polygons(ring)
    twice = rng.random(len(geoms)) < 0.003
    shifted = shapely.transform(geoms[twice], lambda c: c + CELL / 2)
    geoms = np.concatenate([geoms, shifted])[:parcels]
    ids = np.char.add("P", np.arange(len(geoms)).astype(str)).astype(object)
    return gpd.GeoDataFrame({"yjjbnttbbh": ids}, geometry=geoms, crs=4490).rename_geometry("geom")


def synth_hsf(pbf: gpd.GeoDataFrame, side: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    n = max(1, len(pbf) // PARCELS_PER_PROJECT)
    # projects on a coarse grid of 5 x 3 parcel cells, 70% of them built, each jittered
    cols, rows = side // 5, side // 3
    cell = rng.choice(cols * rows, size=min(n, cols * rows), replace=False)
    x0 = LON0 + (cell // rows) * 5 * CELL + rng.uniform(-0.4, 0.4, len(cell)) * CELL
    y0 = LAT0 + (cell % rows) * 3 * CELL + rng.uniform(-0.4, 0.4, len(cell)) * CELL
    w = rng.uniform(4.2, 5.0, len(cell)) * CELL
    h = rng.uniform(2.4, 3.0, len(cell)) * CELL
    wide = rng.random(len(cell)) < 0.02  # reaching over the neighbouring project
    w[wide] *= 1.5
    geoms = shapely.box(x0, y0, x0 + w, y0 + h)
    ids = np.char.add("H", np.arange(len(geoms)).astype(str)).astype(object)
    return gpd.GeoDataFrame({"xmbh": ids}, geometry=geoms, crs=4490).rename_geometry("geom")


def synth_points(n: int, side: int, rng: np.random.Generator) -> gpd.GeoDataFrame:
    extent = side * CELL
    lon = LON0 + rng.uniform(-0.02, 1.02, n) * extent  # ~2% outside every county
    lat = LAT0 + rng.uniform(0, 1, n) * extent
    return gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4490).rename_geometry("geom")


def synth_inputs(parcels: int, points: int, seed: int = 7) -> Inputs:
    rng = np.random.default_rng(seed)
    side = _lattice_side(parcels)
    counties = synth_counties(side)
    codes = counties[COUNTY].to_numpy()
    pbf = synth_pbf(parcels, rng)
    hsf = synth_hsf(pbf, side, rng)
    n_lic = int(points * LICENCE_SHARE)
    lic = synth_points(n_lic, side, rng)
    cmp = synth_points(points - n_lic, side, rng)

    enterprises = max(1, n_lic * 2 // 3)  # some businesses hold several licences
    uscc = np.char.add("91460000MA", np.char.zfill(np.arange(enterprises).astype(str), 8))
    owner = rng.integers(0, enterprises, n_lic)
    lic["tyshxydm"] = uscc[owner].astype(object)
    lic["ztmc"] = np.char.add("海南某某农业有限公司", owner.astype(str)).astype(object)
    lic["zzlx"] = rng.choice(["食品经营许可证", "营业执照", "农药经营许可证"], n_lic)
    lic["zzbh"] = np.char.add("ZZ", np.arange(n_lic).astype(str)).astype(object)
    lic["yxqz"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 1500, n_lic),
                                                               unit="D")

    m = len(cmp)
    start = pd.Timestamp("2026-01-02") + pd.to_timedelta(rng.integers(0, 315 * 24 * 60, m),
                                                         unit="min")
    contact = start + pd.to_timedelta(rng.exponential(70, m), unit="min")
    proposal = contact + pd.to_timedelta(rng.exponential(20, m), unit="h")
    closed = proposal + pd.to_timedelta(rng.exponential(8, m), unit="D")
    still_open = rng.random(m) < 0.05
    cmp["gdbh"] = np.char.add("GD2026", np.char.zfill(np.arange(m).astype(str), 8)).astype(object)
    cmp["slsj"] = start - pd.Timedelta(minutes=10)
    cmp["pdsj"], cmp["sclxsj"] = start, contact
    cmp["blyjsj"] = proposal.where(~still_open)
    cmp["bjsj"] = closed.where(~still_open)
    cmp["gdlx"] = rng.choice(["投诉", "举报", "求助", "咨询"], m)
    cmp["zbdw"] = rng.choice(["县农业农村局", "县市场监管局", "镇政府"], m)
    names_it = rng.random(m) < 0.4
    named = owner[rng.integers(0, n_lic, m)]
    cmp["sjqyxydm"] = pd.Series(uscc[named].astype(object)).where(names_it).to_numpy()
    cmp["sjqymc"] = None
    cmp["bljg"] = rng.choice(["已办结", "办理中"], m)
    cmp["myd"] = rng.choice(["满意", "基本满意", "不满意", "未评价"], m)
    cmp["ldrdh_token"] = "0" * 64
    cmp["ldrdh_masked"] = "138****0000"

    for frame in (pbf, hsf, lic, cmp):
        frame[COUNTY] = locate(frame, counties)
        stated = frame[COUNTY].fillna(codes[0]).to_numpy(dtype=object).copy()
        wrong = rng.random(len(frame)) < 0.002
        stated[wrong] = rng.choice(codes, wrong.sum())
        frame["xzqdm"] = stated
    return Inputs(counties=counties, farmland_pbf=pbf, farmland_hsf=hsf, licenses=lic,
                  complaints=cmp)


def _reference(inputs: Inputs) -> dict[str, int]:
    """The plain-library baseline: a union overlay of the two farmland layers and a point in
    polygon join per register."""
    union = gpd.overlay(inputs.farmland_pbf[["yjjbnttbbh", "geom"]],
                        inputs.farmland_hsf[["xmbh", "geom"]], how="union",
                        keep_geom_type=True)
    lic = gpd.sjoin(inputs.licenses[["geom"]], inputs.farmland_pbf[["yjjbnttbbh", "geom"]],
                    predicate="intersects")
    cmp = gpd.sjoin(inputs.complaints[["geom"]], inputs.farmland_pbf[["yjjbnttbbh", "geom"]],
                    how="left", predicate="intersects")
    return {"farmland_union": len(union), "licences_on_pbf": len(lic), "complaints": len(cmp)}


def _cpu_seconds() -> float:
    """This process's user + system CPU time: on a machine shared with other work, wall
    seconds depend on the load, CPU seconds much less."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_one(mode: str, parcels: int, points: int) -> dict[str, object]:
    t0 = time.perf_counter()
    inputs = synth_inputs(parcels, points)
    synth_s = time.perf_counter() - t0
    rss_inputs = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages: dict[str, float] = {}
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    if mode == "unpartitioned":
        rows = {k: len(v) for k, v in integrate_unpartitioned(inputs, AS_OF).items()}
    elif mode == "partitioned":
        parts = []
        for code in partitions(inputs):
            t = time.perf_counter()
            parts.append(integrate_county(inputs, code, AS_OF))
            stages[code] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        rows = {k: len(v) for k, v in finish(inputs, parts, AS_OF).items()}
        stages["finish"] = round(time.perf_counter() - t, 1)
    elif mode == "reference":
        rows = _reference(inputs)
    else:
        raise SystemExit(f"unknown mode {mode}")
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    return {"mode": mode, "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            "synth_seconds": round(synth_s, 1),
            "rss_after_inputs_mb": round(rss_inputs / 1024),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "rows": rows, "stages": stages,
            "inputs": {"farmland_pbf": len(inputs.farmland_pbf),
                       "farmland_hsf": len(inputs.farmland_hsf),
                       "licenses": len(inputs.licenses), "complaints": len(inputs.complaints)}}


def _child(mode: str, args: argparse.Namespace) -> dict[str, object]:
    proc = subprocess.run([sys.executable, __file__, "--one", mode, "--parcels", str(args.parcels),
                           "--points", str(args.points)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{mode}: {result['seconds']} s wall, {result['cpu_seconds']} s CPU, "
          f"peak RSS {result['peak_rss_mb']} MB", flush=True)
    return result


def _report(results: dict[str, dict], args: argparse.Namespace, command: str) -> str:
    ref = results["reference"]
    inputs = results["unpartitioned"]["inputs"]
    lines = ["# Integration at scale", "",
             f"Measured {datetime.now():%Y-%m-%d %H:%M} on {platform.node()} "
             f"({platform.processor() or platform.machine()}, 2 cores shared with other work), "
             f"Python {platform.python_version()}, geopandas {gpd.__version__}, "
             f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}).", "",
             f"Command: `{command}`", "",
             "Inputs (synthesised, see the script's docstring): "
             + ", ".join(f"{k} {v:,}" for k, v in inputs.items()) + ".", "",
             "| run | wall s | CPU s | peak RSS MB | RSS with inputs only MB | "
             "CPU ratio to reference |", "|---|---:|---:|---:|---:|---:|"]
    for mode in ("unpartitioned", "partitioned", "reference"):
        r = results[mode]
        lines.append(f"| {mode} | {r['seconds']} | {r['cpu_seconds']} | {r['peak_rss_mb']} | "
                     f"{r['rss_after_inputs_mb']} | {r['cpu_seconds'] / ref['cpu_seconds']:.2f} |")
    lines += ["", "Reference: `geopandas.overlay(pbf, hsf, how=\"union\")` plus one `sjoin` of "
              "licences and one of work orders against the parcels, on the same frames in the "
              "same run. It does less than the integration (no disjoint pieces where parcels "
              "overlap, no county cuts, no ellipsoidal areas, no conflicts, no SLA rules), so a "
              "ratio near 1 means the extra work is cheap.", "",
              "Wall seconds depend on what else the shared 2-core machine ran meanwhile; CPU "
              "seconds (user + system of the measuring child) are the comparable figure.", "",
              "Rows per layer and rows per CPU second (unpartitioned, whole integration):",
              "", "| layer | rows | rows per CPU s |", "|---|---:|---:|"]
    un = results["unpartitioned"]
    for layer, n in un["rows"].items():
        lines.append(f"| {layer} | {n:,} | {n / un['cpu_seconds']:,.0f} |")
    part = results["partitioned"]
    same = part["rows"] == un["rows"]
    lines += ["", f"Partitioned rows equal unpartitioned rows per layer: {same}.",
              "Partition seconds (county, then finish): "
              + ", ".join(f"{k} {v}" for k, v in part["stages"].items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parcels", type=int, default=1_000_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/integration_scale.md")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.parcels, args.points)))
        return
    command = "uv run --frozen python bench/integration_scale.py " + " ".join(sys.argv[1:])
    results = {m: _child(m, args) for m in ("reference", "unpartitioned", "partitioned")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_report(results, args, command.strip()), "utf-8")
    print(json.dumps(results, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
