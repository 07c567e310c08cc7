"""How fast yitu reads a big delivery, against plain pandas/pyogrio on the same file, and how
close the GCJ-02 inverse comes back.

    uv run --frozen python bench/read_throughput.py [--rows 1000000] [--out DIR]

Writes, into a temporary folder, a 1M-row complaints CSV (GBK, the hotline's 24 columns,
GCJ-02 positions, a distinct caller per few rows) and a 1M-polygon farmland_pbf GeoPackage
(layer YJJBNTBHTB, Gauss-Kruger zone 37 as natural resources exports it). Each path then
runs in its own subprocess, so its peak RSS (ru_maxrss) is its own, after its imports:

- yitu: `open_delivery` + `conform`, i.e. everything up to validation: path and content
  safety checks, the GDAL driver check, encoding detection and decoding, reading every value
  as text, header mapping, damaged-code checks, typing, geometry safety checks, the CRS step
  (Gauss-Kruger to EPSG:4490; GCJ-02 detection against the county polygons and the inverse),
  MultiPolygon promotion, ID check columns, and HMAC tokens for personal data.
- plain: `pandas.read_csv(path, encoding="gbk")` / `pyogrio.read_dataframe(path)`: the same
  bytes into a frame with the libraries' defaults and nothing else.

Then the GCJ-02 round trip: every point of a 0.01-degree grid over the region's extent taken
to GCJ-02 and back with `pipelines.read.gcj02`, the distance to where it started measured on the
CGCS2000 ellipsoid with pyproj.Geod. Writes bench/results/read_throughput.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.contracts import load_region  # noqa: E402
from pipelines.read import gcj02  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "read_throughput.md"
PII_KEY = b"bench-key-0123456789abcdef"
GRID_STEP_DEG = 0.01


# --- the files ---------------------------------------------------------------------------------
def _county_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n true positions around the county seats, each inside the county it is coded with."""
    import shapely

    from pipelines.sample.region import counties

    cs = counties()
    seats = np.array([c.seat for c in cs])
    lon: list[np.ndarray] = []
    lat: list[np.ndarray] = []
    code: list[np.ndarray] = []
    have = 0
    while have < n:
        pick = rng.integers(0, len(cs), n)
        x = seats[pick, 0] + rng.normal(0, 0.05, n)
        y = seats[pick, 1] + rng.normal(0, 0.05, n)
        keep = np.zeros(n, dtype=bool)
        for k, c in enumerate(cs):
            mine = pick == k
            keep[mine] = shapely.contains_xy(c.polygon, x[mine], y[mine])
        lon.append(x[keep])
        lat.append(y[keep])
        code.append(np.array([c.code for c in cs])[pick[keep]])
        have += int(keep.sum())
    return np.concatenate(lon)[:n], np.concatenate(lat)[:n], np.concatenate(code)[:n]


def write_complaints_csv(path: Path, rows: int) -> None:
    rng = np.random.default_rng(7)
    lon, lat, codes = _county_points(rng, rows)
    glon, glat = gcj02.wgs84_to_gcj02(lon, lat)
    i = np.arange(rows)
    start = np.datetime64("2026-01-01T08:00:00") + (i * 31).astype("timedelta64[s]")
    dispatch = start + rng.integers(60, 3600, rows).astype("timedelta64[s]")
    contact = dispatch + rng.integers(300, 9000, rows).astype("timedelta64[s]")
    proposal = contact + rng.integers(3600, 86400, rows).astype("timedelta64[s]")
    closed = proposal + rng.integers(3600, 10 * 86400, rows).astype("timedelta64[s]")
    callers = rng.integers(0, rows // 3, rows)  # a caller calls about three times
    birth = 19600101 + (callers % 40) * 10000 + callers % 28

    def stamp(t: np.ndarray) -> np.ndarray:
        return np.datetime_as_string(t, unit="s").astype(object)

    def id_numbers(base: np.ndarray) -> list[str]:
        from pipelines.validate.codes import id_card_check_char

        first = [f"{c}{b}{n % 1000:03d}" for c, b, n in zip(codes, birth, base, strict=True)]
        return [f + id_card_check_char(f) for f in first]

    frame = pd.DataFrame({
        "GDBH": [f"2026{n:09d}" for n in i],
        "SLSJ": [s.replace("T", " ") for s in stamp(start)],
        "GDLY": rng.choice(["电话", "网站", "微信", "APP"], rows),
        "GDLX": rng.choice(["投诉", "举报", "求助", "咨询", "建议", "表扬"], rows),
        "NRMS": [f"市民反映{c}附近夜间施工噪音扰民，已持续{n % 9 + 1}天，请尽快处理" for c, n in
                 zip(codes, i, strict=True)],
        "SQDZ": [f"海南省{c}人民路{n % 500 + 1}号" for c, n in zip(codes, i, strict=True)],
        "JD": np.round(glon, 6), "WD": np.round(glat, 6), "XZQDM": codes,
        "ZBDW": rng.choice(["住房和城乡建设局", "生态环境局", "市场监督管理局", "交通运输局"], rows),
        "PDSJ": [s.replace("T", " ") for s in stamp(dispatch)],
        "SCLXSJ": [s.replace("T", " ") for s in stamp(contact)],
        "BLYJSJ": [s.replace("T", " ") for s in stamp(proposal)],
        "BJSJ": [s.replace("T", " ") for s in stamp(closed)],
        "BLJG": rng.choice(["解决", "部分解决", "未解决", "退单"], rows),
        "MYD": rng.choice(["满意", "基本满意", "不满意", "未评价"], rows),
        "SJQYMC": [f"海南第{n % 5000}贸易有限公司" for n in i],
        "SJQYXYDM": [""] * rows,
        "YWFL1": ["城乡建设"] * rows, "YWFL2": ["建筑施工"] * rows, "YWFL3": ["噪音扰民"] * rows,
        "LDRXM": [f"李{'甲乙丙丁戊己庚辛壬癸'[n % 10]}{n % 97}" for n in callers],
        "LDRDH": [f"139{n:08d}" for n in callers],
        "LDRZJHM": id_numbers(callers),
    })
    frame.to_csv(path, index=False, encoding="gbk", lineterminator="\r\n")


def write_pbf_gpkg(path: Path, rows: int) -> None:
    import geopandas as gpd
    import pyogrio
    import shapely

    from pipelines.sample.region import geodesic_areas

    rng = np.random.default_rng(11)
    lon, lat, codes = _county_points(rng, rows)
    side = 0.0009  # ~95 m
    boxes = shapely.box(lon, lat, lon + side, lat + side)
    areas = geodesic_areas(boxes[: min(rows, 1000)])
    i = np.arange(rows)
    frame = gpd.GeoDataFrame({
        "BSM": i + 1, "XZQDM": codes, "XZQMC": "某区", "YJJBNTTBBH": [f"{c}{n:07d}" for c, n in
                                                                    zip(codes, i, strict=True)],
        "TBBH": [f"{n % 10000:04d}" for n in i], "DLBM": rng.choice(["0101", "0102", "0103"], rows),
        "DLMC": "水田", "QSXZ": "30", "QSDWDM": [f"{c}0010010000000" for c in codes],
        "QSDWMC": "红旗村民委员会", "ZLDWDM": [f"{c}0010010000000" for c in codes],
        "ZLDWMC": "红旗村", "YJJBNTTBMJ": np.resize(np.round(areas, 2), rows), "GDDB": 5,
        "SJNF": 2025, "ZRRMC": [f"王{n % 997}" for n in i],
        "ZRRZJHM": "", "LXDH": [f"138{n % 200000:08d}" for n in i],
    }, geometry=boxes, crs=4490).to_crs(4525)
    frame["ZRRZJHM"] = None
    pyogrio.write_dataframe(frame, path, layer="YJJBNTBHTB", driver="GPKG",
                            geometry_type="MultiPolygon", promote_to_multi=True)


def _write_counties(path: Path) -> None:
    """The county polygons GCJ-02 detection tests the points against (admin_divisions)."""
    import geopandas as gpd

    from pipelines.sample.region import counties

    cs = counties()
    gpd.GeoDataFrame({"XZQDM": [c.code for c in cs]}, geometry=[c.polygon for c in cs],
                     crs=4490).to_file(path, layer="XZQ")


# --- one measured path, in a child process -------------------------------------------------------
def child(path: Path, kind: str, dataset: str, admin: Path | None) -> dict[str, Any]:
    import geopandas as gpd
    import pyogrio

    from pipelines.contracts import load_contract
    from pipelines.read.conform import conform
    from pipelines.read.formats import open_delivery

    counties = None
    if admin is not None:
        a = gpd.read_file(admin)
        counties = gpd.GeoDataFrame({"county_code": a["XZQDM"]}, geometry=a.geometry.values,
                                    crs=4490).rename_geometry("geom")
    contract = load_contract(dataset)
    before = _peak_rss_kib()
    t0 = time.perf_counter()
    if kind == "yitu":
        with tempfile.TemporaryDirectory() as work:
            raw = open_delivery(path, contract, Path(work))
            out = conform(raw, contract, load_region(), PII_KEY, counties=counties)
        n = len(out.frame)
        extra = {"failures": len(out.failures), "crs": out.notes.get("crs"),
                 "crs_detection": out.notes.get("crs_detection")}
    elif path.suffix == ".csv":
        n, extra = len(pd.read_csv(path, encoding="gbk")), {}
    else:
        n, extra = len(pyogrio.read_dataframe(path)), {}
    seconds = time.perf_counter() - t0
    return {"rows": n, "seconds": seconds, "peak_rss_mib": _peak_rss_kib() / 1024,
            "rss_before_mib": before / 1024, **extra}


def _peak_rss_kib() -> int:
    """This process's own high-water mark. ru_maxrss is not: Linux carries it over from the
    parent across fork and exec, and the parent held the million rows it wrote."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_child(path: Path, kind: str, dataset: str, admin: Path | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(path), kind, dataset]
    if admin is not None:
        cmd.append(str(admin))
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- GCJ-02 ---------------------------------------------------------------------------------------
def gcj02_round_trip() -> dict[str, float]:
    from pyproj import CRS

    e = load_region().extent
    lon, lat = np.meshgrid(np.arange(e.min_lon, e.max_lon + 1e-9, GRID_STEP_DEG),
                           np.arange(e.min_lat, e.max_lat + 1e-9, GRID_STEP_DEG))
    lon, lat = lon.ravel(), lat.ravel()
    glon, glat = gcj02.wgs84_to_gcj02(lon, lat)
    t0 = time.perf_counter()
    blon, blat = gcj02.gcj02_to_wgs84(glon, glat)
    inverse_s = time.perf_counter() - t0
    geod = CRS.from_epsg(4490).get_geod()
    assert geod is not None
    _, _, shift = geod.inv(lon, lat, glon, glat)
    _, _, error = geod.inv(lon, lat, blon, blat)
    return {"points": float(lon.size), "max_m": float(np.max(error)),
            "p99_m": float(np.percentile(error, 99)), "mean_m": float(np.mean(error)),
            "offset_min_m": float(np.min(shift)), "offset_max_m": float(np.max(shift)),
            "inverse_points_per_s": lon.size / inverse_s}


# --- report ---------------------------------------------------------------------------------------
def _line(name: str, r: dict[str, Any]) -> str:
    return (f"| {name} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows'] / r['seconds']:,.0f} | "
            f"{r['peak_rss_mib']:,.0f} |")


def report(rows: int, sizes: dict[str, int], runs: dict[str, dict[str, Any]],
           trip: dict[str, float], command: str) -> str:
    out = [
        "# Read throughput: yitu's reader vs plain pandas/pyogrio",
        "",
        f"Measured by `{command}` on {platform.machine()}, Python {platform.python_version()},"
        f" {os.cpu_count()} CPUs (shared with other work, so seconds vary between runs; the "
        "ratios are measured in the same run). Each path in its own process after its "
        "imports; peak RSS is that process's VmHWM (imports included).",
        "",
        "yitu path = `open_delivery` + `conform`: safety checks, GDAL driver check, encoding "
        "detection and decoding, values as text, header mapping, damaged-code checks, typing, "
        "geometry safety checks, CRS to EPSG:4490 (Gauss-Kruger reprojection; GCJ-02 detection "
        "against county polygons and the inverse), MultiPolygon promotion, ID check columns, "
        "HMAC tokens for personal data. Everything up to validation; no validation, no load.",
        "",
        "| path | rows | seconds | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (("complaints CSV, yitu", "csv_yitu"),
                       ("complaints CSV, pandas.read_csv", "csv_plain"),
                       ("farmland_pbf GPKG, yitu", "gpkg_yitu"),
                       ("farmland_pbf GPKG, pyogrio.read_dataframe", "gpkg_plain")):
        out.append(_line(label, runs[key]))
    csv_ratio = runs["csv_yitu"]["seconds"] / runs["csv_plain"]["seconds"]
    gpkg_ratio = runs["gpkg_yitu"]["seconds"] / runs["gpkg_plain"]["seconds"]
    out += [
        "",
        f"Ratio yitu / plain: **CSV {csv_ratio:.2f}x**, **GeoPackage {gpkg_ratio:.2f}x** "
        f"(files: CSV {sizes['csv'] / 1024**2:.0f} MiB GBK, GeoPackage "
        f"{sizes['gpkg'] / 1024**2:.0f} MiB; {rows:,} rows each).",
        f"CSV crs_detection: `{json.dumps(runs['csv_yitu'].get('crs_detection'))}`; "
        f"GeoPackage crs: `{runs['gpkg_yitu'].get('crs')}`.",
        "",
        "## GCJ-02 round trip",
        "",
        f"{int(trip['points']):,} points on a {GRID_STEP_DEG}-degree grid over the region's "
        "extent, CGCS2000 -> GCJ-02 -> back with `pipelines.read.gcj02`, distance on the CGCS2000 "
        "ellipsoid (pyproj.Geod):",
        "",
        f"- max error {trip['max_m'] * 1000:.4f} mm, p99 {trip['p99_m'] * 1000:.4f} mm, "
        f"mean {trip['mean_m'] * 1000:.4f} mm",
        f"- the GCJ-02 offset itself over the same grid: {trip['offset_min_m']:.0f}-"
        f"{trip['offset_max_m']:.0f} m",
        f"- inverse speed: {trip['inverse_points_per_s']:,.0f} points/s",
        "",
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, kind, dataset, *admin = args.child
        print(json.dumps(child(Path(path), kind, dataset, Path(admin[0]) if admin else None),
                         default=str))
        return
    with tempfile.TemporaryDirectory(prefix="yitu-bench-") as tmp:
        folder = Path(tmp)
        csv, gpkg, admin = folder / "complaints.csv", folder / "YJJBNTBHTB.gpkg", folder / "XZQ.gpkg"
        t0 = time.perf_counter()
        write_complaints_csv(csv, args.rows)
        write_pbf_gpkg(gpkg, args.rows)
        _write_counties(admin)
        print(f"files written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        runs = {
            "csv_plain": _run_child(csv, "plain", "complaints", None),
            "csv_yitu": _run_child(csv, "yitu", "complaints", admin),
            "gpkg_plain": _run_child(gpkg, "plain", "farmland_pbf", None),
            "gpkg_yitu": _run_child(gpkg, "yitu", "farmland_pbf", None),
        }
        sizes = {"csv": csv.stat().st_size, "gpkg": gpkg.stat().st_size}
    command = "uv run --frozen python bench/read_throughput.py" + (
        f" --rows {args.rows}" if args.rows != 1_000_000 else "")
    text = report(args.rows, sizes, runs, gcj02_round_trip(), command)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
