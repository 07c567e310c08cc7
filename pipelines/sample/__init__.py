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
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np

from pipelines.sample.complaints import make_complaints
from pipelines.sample.farmland import make_pbf
from pipelines.sample.hsf import make_hsf
from pipelines.sample.region import REGION_FILE, counties, load_region
from pipelines.sample.registers import make_licenses
from pipelines.sample.writers import write_csv, write_gpkg, write_shapefile_zip, write_xlsx

__all__ = ["write_samples"]

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


def _labels(dataset: str) -> dict[str, str]:
    contract = load_region(SCHEMAS / f"{dataset}.yml")
    return {f["code"]: f["label"] for f in contract["fields"]}


def _entry(
    dataset: str,
    file: str,
    fmt: str,
    crs: str,
    encoding: str,
    rows: int,
    bad: dict[str, int],
    warn: dict[str, int],
) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "file": file,
        "format": fmt,
        "crs": crs,
        "encoding": encoding,
        "rows": rows,
        "bad_rows": bad,
        "warn_rows": warn,
        "expected_loaded": rows - sum(bad.values()),
    }


def write_samples(out_dir: Path, *, seed: int = 42, scale: int = 1) -> dict[str, Any]:
    """Write the five department files and manifest.json into out_dir; return the manifest.

    Same seed and scale give the same manifest and byte-identical files.
    """
    if scale < 1:
        raise ValueError("scale must be a positive integer")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # One independent stream per dataset: changing one generator leaves the others alone.
    rng_pbf, rng_hsf, rng_lic, rng_cmp = np.random.default_rng(seed).spawn(4)
    cs = counties()
    region = load_region()

    admin = gpd.GeoDataFrame(
        {"XZQDM": [c.code for c in cs], "XZQMC": [c.name for c in cs]},
        geometry=[c.polygon for c in cs],
        crs="EPSG:4490",
    )
    write_gpkg(admin, out_dir / "admin_divisions.gpkg", "XZQ", "EPSG:4490")

    pbf = make_pbf(rng_pbf, cs, scale)
    write_shapefile_zip(pbf.frame, out_dir / "farmland_pbf.zip", "YJJBNTBHTB", "EPSG:4525", "GBK")

    hsf = make_hsf(rng_hsf, cs, pbf, scale)
    write_gpkg(hsf.frame, out_dir / "farmland_hsf.gpkg", "GBZNT", "EPSG:4545")

    lic = make_licenses(rng_lic, cs, pbf, scale)
    labels = _labels("licenses")
    write_xlsx(
        lic.frame,
        out_dir / "licenses.xlsx",
        f"{region['region']}市场主体证照信息（2026年11月）",
        [labels[c] for c in lic.frame.columns],
    )

    hot = make_complaints(rng_cmp, cs, pbf, lic, scale)
    write_csv(
        hot.frame,
        out_dir / "complaints.csv",
        [COMPLAINT_HEADER.get(c, c) for c in hot.frame.columns],
        "GBK",
    )

    manifest: dict[str, Any] = {
        "seed": seed,
        "scale": scale,
        "region": region["region"],
        "files": [
            _entry(
                "admin_divisions",
                "admin_divisions.gpkg",
                "GPKG",
                "EPSG:4490",
                "UTF-8",
                len(admin),
                {},
                {},
            ),
            _entry(
                "farmland_pbf",
                "farmland_pbf.zip",
                "ESRI Shapefile (zip)",
                "EPSG:4525",
                "GBK",
                len(pbf.frame),
                pbf.bad,
                pbf.warn,
            ),
            _entry(
                "farmland_hsf",
                "farmland_hsf.gpkg",
                "GPKG",
                "EPSG:4545",
                "UTF-8",
                len(hsf.frame),
                hsf.bad,
                {},
            ),
            _entry(
                "licenses",
                "licenses.xlsx",
                "XLSX",
                "EPSG:4490",
                "UTF-8",
                len(lic.frame),
                lic.bad,
                lic.warn,
            ),
            _entry(
                "complaints",
                "complaints.csv",
                "CSV",
                "GCJ-02",
                "GBK",
                len(hot.frame),
                hot.bad,
                hot.warn,
            ),
        ],
        "planted": {**pbf.planted, "licenses_on_pbf": lic.on_pbf},
    }
    (out_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest
