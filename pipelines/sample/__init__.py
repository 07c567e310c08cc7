"""`yitu sample`: realistic department files for Hainan, with known bad rows, and a manifest.

The geography is synthetic but plausible (county polygons are Voronoi cells of the real
county seats, clipped to a smoothed outline of the island); codes, encodings, reference
systems and header quirks follow what departments really send (see DATASETS.md). Every
planted problem is counted in manifest.json, so tests can check the pipeline's numbers
exactly: each bad row breaks exactly one rule, warn rows break no fail rule, and the
integration cases (pbf_overlap: pairs of overlapping parcels; county_mismatch: parcels whose
XZQDM names a neighbouring county; licenses_on_pbf: licences located inside a parcel) are
otherwise valid.
"""

from __future__ import annotations

import json
from dataclasses import asdict, astuple, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from pipelines.sample.complaints import make_complaints
from pipelines.sample.farmland import make_pbf
from pipelines.sample.hsf import make_hsf
from pipelines.sample.layout import IntArray
from pipelines.sample.region import REGION_FILE, counties, load_region
from pipelines.sample.registers import make_licenses
from pipelines.sample.writers import write_csv, write_gpkg, write_shapefile_zip, write_xlsx

__all__ = ["PROVINCE", "ROWS_PER_FILE", "Sizes", "write_samples"]

SCHEMAS = REGION_FILE.parent
# Hotline exports mix header forms: mostly codes, a few labels, stray spaces, full-width.
COMPLAINT_HEADER = {
    "GDBH": "ＧＤＢＨ",
    "SLSJ": "受理时间",
    "NRMS": "内容描述",
    "SQDZ": "诉求地址",
    "PDSJ": " PDSJ ",
    "LDRXM": "来电人姓名",
}
# A larger delivery comes in several files, as departments split them to pass the readers'
# limits (pipelines/read/limits.py: 6 million XLSX cells, the parse's memory ceiling):
# permanent farmland one file per county (it is a snapshot per county), licences and work
# orders in runs of this many rows.
ROWS_PER_FILE = 250_000


@dataclass(frozen=True)
class Sizes:
    """Rows of each department file: PBF parcels, HSF project polygons, licences, orders."""

    parcels: int
    hsf_polygons: int
    licences: int
    orders: int

    @classmethod
    def of_scale(cls, scale: int) -> Sizes:
        """`--scale N`: N times the default sample's 600 / 81 / 800 / 2,000 rows."""
        if scale < 1:
            raise ValueError("scale must be a positive integer")
        return cls(600 * scale, 81 * scale, 800 * scale, 2000 * scale)

    @classmethod
    def of_province(cls, fraction: float) -> Sizes:
        """`--province F`: F times a province (PROVINCE)."""
        if not 0.0 < fraction <= 10.0:
            raise ValueError("province must be a fraction in (0, 10]")
        return cls(*(max(1, round(fraction * v)) for v in astuple(PROVINCE)))


# A province, Hainan's order of magnitude: a million permanent-farmland parcels, 300,000
# high-standard farmland polygons, a million licences and a million work orders.
PROVINCE = Sizes(1_000_000, 300_000, 1_000_000, 1_000_000)


def _labels(dataset: str) -> dict[str, str]:
    contract = load_region(SCHEMAS / f"{dataset}.yml")
    return {f["code"]: f["label"] for f in contract["fields"]}


def _entry(
    dataset: str,
    file: str,
    fmt: str,
    crs: str,
    encoding: str,
    rows: IntArray,
    bad: dict[str, IntArray],
    warn: dict[str, IntArray],
) -> dict[str, Any]:
    """The manifest entry of a file holding `rows` (indexes into its dataset's frame): the
    planted rows counted among them, rules with none left out."""

    def count(planted: dict[str, IntArray]) -> dict[str, int]:
        counts = {rule: int(np.isin(where, rows).sum()) for rule, where in planted.items()}
        return {rule: n for rule, n in counts.items() if n}

    bad_rows = count(bad)
    return {
        "dataset": dataset,
        "file": file,
        "format": fmt,
        "crs": crs,
        "encoding": encoding,
        "rows": int(rows.size),
        "bad_rows": bad_rows,
        "warn_rows": count(warn),
        "expected_loaded": int(rows.size) - sum(bad_rows.values()),
    }


def _runs(n: int, name: str, ext: str) -> list[tuple[str, IntArray]]:
    """The file name and rows of each run of at most ROWS_PER_FILE rows."""
    if n <= ROWS_PER_FILE:
        return [(f"{name}.{ext}", np.arange(n))]
    parts = -(-n // ROWS_PER_FILE)
    return [(f"{name}_{i + 1:02d}.{ext}", rows)
            for i, rows in enumerate(np.array_split(np.arange(n), parts))]


def write_samples(
    out_dir: Path, *, seed: int = 42, scale: int = 1, province: float | None = None
) -> dict[str, Any]:
    """Write the five department files and manifest.json into out_dir; return the manifest.

    `scale` multiplies the default sample; `province` (a fraction of PROVINCE) sizes each
    dataset as a province has it instead. Same seed and sizes give the same manifest and
    byte-identical files.
    """
    sizes = Sizes.of_scale(scale) if province is None else Sizes.of_province(province)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One independent stream per dataset: changing one generator leaves the others alone.
    rng_pbf, rng_hsf, rng_lic, rng_cmp = np.random.default_rng(seed).spawn(4)
    cs = counties()
    region = load_region()
    files: list[dict[str, Any]] = []

    admin = gpd.GeoDataFrame(
        {"XZQDM": [c.code for c in cs], "XZQMC": [c.name for c in cs]},
        geometry=[c.polygon for c in cs],
        crs="EPSG:4490",
    )
    write_gpkg(admin, out_dir / "admin_divisions.gpkg", "XZQ", "EPSG:4490")
    files.append(_entry("admin_divisions", "admin_divisions.gpkg", "GPKG", "EPSG:4490",
                        "UTF-8", np.arange(len(admin)), {}, {}))

    pbf = make_pbf(rng_pbf, cs, sizes.parcels)
    if sizes.parcels <= ROWS_PER_FILE:
        pbf_files = [("farmland_pbf.zip", np.arange(sizes.parcels))]
    else:  # a snapshot per county: one file per county named in XZQDM
        stated = pbf.frame["XZQDM"].to_numpy()
        pbf_files = [(f"farmland_pbf_{code}.zip", np.flatnonzero(stated == code))
                     for code in np.unique(stated).tolist()]
    for name, rows in pbf_files:
        write_shapefile_zip(pbf.frame.iloc[rows], out_dir / name, "YJJBNTBHTB", "EPSG:4525",
                            "GBK")
        files.append(_entry("farmland_pbf", name, "ESRI Shapefile (zip)", "EPSG:4525", "GBK",
                            rows, pbf.bad, pbf.warn))

    hsf = make_hsf(rng_hsf, cs, pbf, sizes.hsf_polygons)
    write_gpkg(hsf.frame, out_dir / "farmland_hsf.gpkg", "GBZNT", "EPSG:4545")
    files.append(_entry("farmland_hsf", "farmland_hsf.gpkg", "GPKG", "EPSG:4545", "UTF-8",
                        np.arange(len(hsf.frame)), hsf.bad, {}))

    lic = make_licenses(rng_lic, cs, pbf, sizes.licences)
    labels = _labels("licenses")
    for name, rows in _runs(len(lic.frame), "licenses", "xlsx"):
        write_xlsx(
            lic.frame.iloc[rows],
            out_dir / name,
            f"{region['region']}市场主体证照信息（2026年11月）",
            [labels[c] for c in lic.frame.columns],
        )
        files.append(_entry("licenses", name, "XLSX", "EPSG:4490", "UTF-8", rows, lic.bad,
                            lic.warn))

    hot = make_complaints(rng_cmp, cs, pbf, lic, sizes.orders)
    for name, rows in _runs(len(hot.frame), "complaints", "csv"):
        write_csv(
            hot.frame.iloc[rows],
            out_dir / name,
            [COMPLAINT_HEADER.get(c, c) for c in hot.frame.columns],
            "GBK",
        )
        files.append(_entry("complaints", name, "CSV", "GCJ-02", "GBK", rows, hot.bad,
                            hot.warn))

    manifest: dict[str, Any] = {
        "seed": seed,
        "scale": scale if province is None else None,
        "province": province,
        "sizes": asdict(sizes),
        "region": region["region"],
        "files": files,
        "planted": {**pbf.planted, "licenses_on_pbf": lic.on_pbf},
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest
