"""How much Great Expectations costs: a 1M-row delivery of each dataset through validation.

    uv run --frozen python bench/validation_speed.py [--rows 1000000] [--datasets ...]

For each dataset a frame of --rows rows is built once from the sample deliveries (seed 42,
scale 1) read through the real reader and conform step, repeated with fresh keys and fresh
geometry objects so every planted bad row recurs at the same share; admin_divisions, whose
sample has only 24 counties, is synthesised as village squares. Then 1 % of the rows are
broken for each expectation of the suite, so every rule (required, pattern and range too,
which the sample does not plant) has failing rows. Each path then runs in its own subprocess,
so that its peak RSS (VmHWM) is its own:
- gx: `validate_frame`, the pipeline's GX path;
- direct: the same suite's checks written directly in vectorised pandas/shapely over the same
  frame, with the same row-failure table built from the masks.
Both must report the same failing (row, rule, field) triples. A warm-up run on 100 rows first
keeps imports and GX context creation out of the timing. Writes
bench/results/validation_speed.md.
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.contracts import DATASETS, Contract, load_contract, load_region  # noqa: E402
from pipelines.validate import checks  # noqa: E402
from pipelines.validate.run import (  # noqa: E402
    FAILURE_COLUMNS,
    _failure_rows,
    _runnable,
    load_suite_json,
    validate_frame,
    validation_frame,
)
from pipelines.validate.suite import ROW_ID_COLUMN  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "validation_speed.md"
PII_KEY = b"bench-key-0123456789abcdef"


# --- building the frames ---------------------------------------------------------------------


def _conformed(sample_dir: Path, dataset: str, counties: gpd.GeoDataFrame | None) -> Any:
    from pipelines.read.conform import conform
    from pipelines.read.formats import open_delivery

    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    file = next(f["file"] for f in manifest["files"] if f["dataset"] == dataset)
    contract = load_contract(dataset)
    with tempfile.TemporaryDirectory() as work:
        raw = open_delivery(sample_dir / file, contract, Path(work))
        return conform(raw, contract, load_region(), PII_KEY,
                       counties=counties if contract.geometry_from_columns else None)


def _fresh_geometries(values: np.ndarray) -> np.ndarray:
    """Distinct geometry objects (a repeated reference would flatter memory and caches)."""
    out: np.ndarray = shapely.from_wkb(shapely.to_wkb(values))
    return out


def _repeat(frame: gpd.GeoDataFrame, clear: dict[str, pd.Series], rows: int,
            contract: Contract) -> tuple[gpd.GeoDataFrame, dict[str, pd.Series]]:
    """`rows` rows cycling through the delivery; keys made unique per copy, so a key repeated
    within the sample is repeated within each copy and nowhere else."""
    take = np.resize(np.arange(len(frame)), rows)
    copy = np.arange(rows) // len(frame)
    out = pd.DataFrame(frame.drop(columns=frame.geometry.name)).iloc[take].reset_index(drop=True)
    if contract.key_column:
        key = out[contract.key_column].astype("string")
        out[contract.key_column] = (key + "-" + pd.Series(copy).astype(str)).where(key.notna())
    out[ROW_ID_COLUMN] = np.arange(2, rows + 2)
    geoms = _fresh_geometries(np.asarray(frame.geometry.values, dtype=object)[take])
    repeated = {c: pd.Series(np.asarray(v, dtype=object)[take]) for c, v in clear.items()}
    return gpd.GeoDataFrame(out, geometry=geoms, crs=4490), repeated


def _villages(rows: int, counties: gpd.GeoDataFrame, seed: int = 42) -> gpd.GeoDataFrame:
    """Village-level divisions (12-digit codes) as small squares, 1 % bad per rule."""
    rng = np.random.default_rng(seed)
    ext = load_region().extent
    lon = rng.uniform(ext.min_lon + 0.1, ext.max_lon - 0.1, rows)
    lat = rng.uniform(ext.min_lat + 0.1, ext.max_lat - 0.1, rows)
    d = 0.004
    geoms = shapely.box(lon, lat, lon + d, lat + d)
    county = rng.choice(counties["county_code"].to_numpy(), rows)
    code = np.char.add(county.astype(str), np.char.zfill(np.arange(rows).astype(str), 6))
    name = np.char.add("村", np.arange(rows).astype(str)).astype(object)
    bad = rng.permutation(rows)[: 5 * (rows // 100)].reshape(5, -1)
    geoms[bad[0]] = shapely.polygons([[(x, y), (x + d, y + d), (x + d, y), (x, y + d), (x, y)]
                                      for x, y in zip(lon[bad[0]], lat[bad[0]], strict=True)])
    geoms[bad[1]] = shapely.box(lon[bad[1]] + 5, lat[bad[1]], lon[bad[1]] + 5 + d, lat[bad[1]] + d)
    code[bad[2]] = np.char.add(code[bad[2]], "A")
    code[bad[3]] = code[bad[3] - 1]
    name[bad[4]] = None
    return gpd.GeoDataFrame({"xzqdm": code.astype(object), "xzqmc": name,
                             ROW_ID_COLUMN: np.arange(2, rows + 2)},
                            geometry=shapely.multipolygons(geoms[:, None]), crs=4490)


BAD_ID = "110105194912310021"  # GB 11643 check digit should be X
BOWTIE = [(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]


def _set_geometries(frame: gpd.GeoDataFrame, rows: np.ndarray, values: np.ndarray) -> None:
    geoms = np.asarray(frame.geometry.values, dtype=object).copy()
    geoms[rows] = values
    frame[frame.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs)


def _break_rows(frame: gpd.GeoDataFrame, clear: dict[str, pd.Series], contract: Contract,
                counties: gpd.GeoDataFrame, share: float = 0.01, seed: int = 7) -> None:
    """Give `share` of the rows a fault for each expectation of the suite, so that every rule
    has failing rows, not only those the sample plants (required, pattern, range...)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    k = int(len(frame) * share)
    geom = frame.geometry.name
    codes = counties["county_code"].to_numpy()
    for n, e in enumerate(load_suite_json(contract.dataset)["expectations"]):
        rows = np.sort(order[n * k:(n + 1) * k])
        kw, t = e["kwargs"], e["type"]
        col = kw.get("column")
        col = geom if col == "geometry" else col
        at = frame.index[rows]
        if t == "expect_column_values_to_not_be_null":
            frame.loc[at, col] = None
        elif t == "expect_column_values_to_be_in_set":
            frame.loc[at, col] = "469099" if "460105" in kw["value_set"] else "未知"
        elif t == "expect_column_values_to_match_regex":
            frame.loc[at, col] = "BAD-CODE"
        elif t == "expect_column_values_to_be_between":
            frame.loc[at, col] = (kw["max_value"] + 1 if kw.get("max_value") is not None
                                  else kw["min_value"] - 1)
        elif t == "expect_column_values_to_be_valid_geometry":
            rows = rows[~shapely.is_missing(np.asarray(frame.geometry.values[rows], dtype=object))]
            g = frame.geometry.values[rows]
            xy = shapely.get_coordinates(shapely.point_on_surface(g))
            broken = (shapely.box(xy[:, 0], xy[:, 1], xy[:, 0] + 1e-3, xy[:, 1] + 1e-3)
                      if kw["geometry_type"] == "Point" else shapely.multipolygons(
                          shapely.polygons([[(x + 1e-3 * a, y + 1e-3 * b) for a, b in BOWTIE]
                                            for x, y in xy])[:, None]))
            _set_geometries(frame, rows, broken)
        elif t == "expect_column_values_to_be_within_extent":
            _set_geometries(frame, rows, shapely.transform(
                np.asarray(frame.geometry.values[rows], dtype=object), lambda c: c + [5.0, 0.0]))
        elif t == "expect_column_values_to_be_valid_uscc":
            frame.loc[at, col] = "91110000600037341N"
        elif t == "expect_column_values_to_be_valid_id_card_number":
            source = col.removesuffix("_clear")
            values = clear[source].to_numpy(dtype=object).copy()
            values[rows] = BAD_ID
            clear[source] = pd.Series(values)
        elif t == "expect_column_values_to_be_first_occurrence":
            frame.loc[at, col] = frame[col].to_numpy()[np.maximum(rows - 1, 0)]
        elif t == "expect_column_pair_county_code_to_match_location":
            current = frame[kw["column_A"]].to_numpy(dtype=object)[rows]
            frame.loc[at, kw["column_A"]] = np.where(current == codes[0], codes[-1], codes[0])
        elif t == "expect_multicolumn_datetimes_to_be_in_order":
            first, last = kw["column_list"][0], kw["column_list"][-1]
            frame.loc[at, last] = frame.loc[at, first] - pd.Timedelta(hours=1)
        elif t == "expect_column_pair_stated_area_to_agree_with_geometry":
            frame.loc[at, kw["column_A"]] = frame.loc[at, kw["column_A"]] * 2
        else:
            raise NotImplementedError(t)


def build(rows: int, datasets: list[str], out: Path) -> None:
    from pipelines.sample import write_samples

    sample_dir = out / "samples"
    write_samples(sample_dir, seed=42, scale=1)
    admin = _conformed(sample_dir, "admin_divisions", None).frame
    counties = gpd.GeoDataFrame({"county_code": admin["xzqdm"].to_numpy()},
                                geometry=admin.geometry.values, crs=4490)
    for dataset in datasets:
        contract = load_contract(dataset)
        if dataset == "admin_divisions":
            frame, clear = _villages(rows, counties), {}
        else:
            conformed = _conformed(sample_dir, dataset, counties)
            frame, clear = _repeat(conformed.frame, conformed.clear_ids, rows, contract)
        _break_rows(frame, clear, contract, counties)
        with (out / f"{dataset}.pkl").open("wb") as f:
            pickle.dump({"frame": frame, "clear": clear, "counties": counties}, f,
                        protocol=pickle.HIGHEST_PROTOCOL)


# --- the direct path -------------------------------------------------------------------------


def _column_map(plain: pd.DataFrame, column: str, ok: Any) -> np.ndarray:
    """GX column-map semantics: nulls are not the map's business."""
    present = plain[column].notna().to_numpy(bool)
    return np.asarray(present & ~np.asarray(ok, dtype=bool), dtype=bool)


def _between(plain: pd.DataFrame, k: dict[str, Any]) -> np.ndarray:
    v = pd.to_numeric(plain[k["column"]], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    ok = np.ones(len(v), dtype=bool)
    if k.get("min_value") is not None:
        ok &= (v > k["min_value"]) if k.get("strict_min") else (v >= k["min_value"])
    if k.get("max_value") is not None:
        ok &= (v < k["max_value"]) if k.get("strict_max") else (v <= k["max_value"])
    return _column_map(plain, k["column"], ok)


def _pair_present(plain: pd.DataFrame, k: dict[str, Any]) -> np.ndarray:
    return np.asarray(plain[k["column_A"]].notna() & plain[k["column_B"]].notna(), dtype=bool)


def direct_unexpected(plain: pd.DataFrame, e: dict[str, Any],
                      params: dict[str, Any]) -> np.ndarray:
    """The rows `e` finds unexpected, computed without GX."""
    k, t = e["kwargs"], e["type"]
    if t == "expect_column_values_to_not_be_null":
        return np.asarray(plain[k["column"]].isna(), dtype=bool)
    if t == "expect_column_values_to_be_in_set":
        return _column_map(plain, k["column"], plain[k["column"]].isin(k["value_set"]))
    if t == "expect_column_values_to_match_regex":
        text = plain[k["column"]].astype(str)
        return _column_map(plain, k["column"], text.str.contains(k["regex"], regex=True))
    if t == "expect_column_values_to_be_between":
        return _between(plain, k)
    if t == "expect_column_values_to_be_valid_geometry":
        return _column_map(plain, k["column"],
                           checks.geometry_ok(plain[k["column"]], k["geometry_type"]))
    if t == "expect_column_values_to_be_within_extent":
        ok = checks.within_extent(plain[k["column"]], k["min_lon"], k["min_lat"], k["max_lon"],
                                  k["max_lat"])
        return _column_map(plain, k["column"], ok)
    if t == "expect_column_values_to_be_valid_uscc":
        return _column_map(plain, k["column"], checks.uscc_ok(plain[k["column"]]))
    if t == "expect_column_values_to_be_valid_id_card_number":
        return _column_map(plain, k["column"], checks.id_card_ok(plain[k["column"]]))
    if t == "expect_column_values_to_be_first_occurrence":
        return _column_map(plain, k["column"], checks.first_occurrence(plain[k["column"]]))
    if t == "expect_column_pair_county_code_to_match_location":
        from pipelines.validate.custom_expectations import polygons_from_wkb

        polygons = polygons_from_wkb(params["county_polygons"])
        ok = checks.county_location_ok(plain[k["column_A"]], plain[k["column_B"]], polygons)
        return _pair_present(plain, k) & ~ok
    if t == "expect_column_pair_stated_area_to_agree_with_geometry":
        ok = checks.area_agrees(plain[k["column_A"]], plain[k["column_B"]], k["unit"],
                                k["tolerance"])
        return _pair_present(plain, k) & ~ok
    if t == "expect_multicolumn_datetimes_to_be_in_order":
        cols = k["column_list"]
        some = plain[cols].notna().any(axis=1).to_numpy(bool)
        return some & ~checks.dates_in_order(plain[cols], cols)
    raise NotImplementedError(t)


def validate_direct(contract: Contract, frame: gpd.GeoDataFrame, clear: dict[str, pd.Series],
                    counties: gpd.GeoDataFrame) -> pd.DataFrame:
    from pipelines.validate.run import county_polygons_parameter

    suite = load_suite_json(contract.dataset)
    plain = validation_frame(contract, frame, clear)
    expectations, _ = _runnable(suite, plain, has_counties=True)
    params = {"county_polygons": county_polygons_parameter(counties)}
    failures = []
    for e in expectations:
        bad = direct_unexpected(plain, e, params)
        rows = plain.index[bad].tolist()
        if rows:
            m = e["meta"]
            failures.append(_failure_rows(contract, plain, rows, m["rule"], m["severity"],
                                          m["field"]))
    return (pd.concat(failures, ignore_index=True) if failures
            else pd.DataFrame(columns=FAILURE_COLUMNS))


# --- one measured run, in its own process ----------------------------------------------------


def _peak_rss_mb() -> float:
    """This process's peak RSS. ru_maxrss survives exec on Linux (a child started by a big
    parent reports the parent's peak until it outgrows it), so VmHWM, which is the new
    process's own, is read where /proc has it; ru_maxrss otherwise."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(path: str, dataset: str, data: Path, out: Path, profile: Path | None) -> None:
    with data.open("rb") as f:
        d = pickle.load(f)
    frame, clear, counties = d["frame"], d["clear"], d["counties"]
    contract = load_contract(dataset)
    rss_data = _peak_rss_mb()

    def run(fr: gpd.GeoDataFrame, cl: dict[str, pd.Series]) -> pd.DataFrame:
        if path == "gx":
            return validate_frame(contract, fr, clear_ids=cl, counties=counties).failures
        return validate_direct(contract, fr, cl, counties)

    run(frame.head(100), {c: v.head(100) for c, v in clear.items()})  # warm-up
    t0 = time.perf_counter()
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        failures = profiler.runcall(run, frame, clear)
        profiler.dump_stats(profile)
    else:
        failures = run(frame, clear)
    seconds = time.perf_counter() - t0
    failures[["source_row", "rule", "field"]].to_pickle(out.with_suffix(".failures.pkl"))
    out.write_text(json.dumps({
        "path": path, "dataset": dataset, "rows": len(frame), "seconds": seconds,
        "rows_per_s": len(frame) / seconds, "peak_rss_mb": _peak_rss_mb(),
        "rss_after_load_mb": rss_data, "failures": len(failures),
        "failing_rows": int(failures["source_row"].nunique()),
    }))


def _subprocess(path: str, dataset: str, work: Path, profile: bool) -> dict[str, Any]:
    out = work / f"{dataset}.{path}.json"
    cmd = [sys.executable, __file__, "--measure", path, "--dataset", dataset,
           "--data", str(work / f"{dataset}.pkl"), "--out", str(out)]
    if profile:
        cmd += ["--profile", str(work / f"{dataset}.{path}.prof")]
    subprocess.run(cmd, check=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _same_failures(work: Path, dataset: str) -> bool:
    def triples(path: str) -> set[tuple[int, str, str]]:
        f = pd.read_pickle(work / f"{dataset}.{path}.failures.pkl")
        return set(zip(f["source_row"].astype(int), f["rule"], f["field"], strict=True))

    gx, direct = triples("gx"), triples("direct")
    if gx != direct:
        print(f"{dataset}: gx only {sorted(gx - direct)[:5]}, direct only "
              f"{sorted(direct - gx)[:5]}", file=sys.stderr)
    return gx == direct


def report(results: list[tuple[dict[str, Any], dict[str, Any]]], rows: int,
           label: str) -> str:
    lines = [f"### {label}", "",
             f"{rows:,} rows per dataset; seconds of one `validate_frame` call (gx) and of the "
             "direct vectorised checks (direct), after a 100-row warm-up; peak RSS of each "
             "path's own process (VmHWM, the frame itself included: 'after load' is the "
             "RSS once the frame was unpickled).", "",
             "| dataset | failing rows | gx s | gx rows/s | gx peak RSS MB | direct s | "
             "direct rows/s | direct peak RSS MB | after load MB | gx / direct |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for gx, direct in results:
        lines.append(
            f"| {gx['dataset']} | {gx['failing_rows']:,} | {gx['seconds']:.1f} | "
            f"{gx['rows_per_s']:,.0f} | {gx['peak_rss_mb']:,.0f} | {direct['seconds']:.1f} | "
            f"{direct['rows_per_s']:,.0f} | {direct['peak_rss_mb']:,.0f} | "
            f"{direct['rss_after_load_mb']:,.0f} | {gx['seconds'] / direct['seconds']:.2f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--label", default="Measured")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--profile", action="store_true", help="cProfile each run (slower)")
    parser.add_argument("--work", type=Path, help="keep the frames here (default: a temp dir)")
    parser.add_argument("--measure", choices=["gx", "direct"], help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        prof = Path(args.out).with_suffix(".prof") if args.profile else None
        measure(args.measure, args.dataset, args.data, args.out, prof)
        return 0

    with tempfile.TemporaryDirectory(prefix="yitu-bench-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        missing = [d for d in args.datasets if not (work / f"{d}.pkl").exists()]
        if missing:
            build(args.rows, missing, work)
        print(f"frames built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        results = []
        agree = True
        for dataset in args.datasets:
            gx = _subprocess("gx", dataset, work, args.profile)
            direct = _subprocess("direct", dataset, work, args.profile)
            agree &= _same_failures(work, dataset)
            print(f"{dataset}: gx {gx['seconds']:.1f} s, direct {direct['seconds']:.1f} s, "
                  f"{gx['seconds'] / direct['seconds']:.2f}x", file=sys.stderr)
            results.append((gx, direct))
        text = report(results, args.rows, args.label)
        print(text)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        with args.output.open("a", encoding="utf-8") as f:
            f.write(text + "\n")
        if not agree:
            print("the GX and direct paths disagree on failing rows", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
