"""`yitu sample --province F`: a province's mix of datasets, split into the files departments
send when a delivery is large, each file's planted rows counted exactly; the layout has room
at province size (`--scale 200` used to stop with "no room left for farmland blocks")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

import pipelines.sample as sample
from pipelines.sample import Sizes, write_samples
from pipelines.sample.farmland import _parcels_per_county
from pipelines.sample.layout import GAP_M, Cells, place_blocks
from pipelines.sample.plant import share
from pipelines.sample.region import counties
from tests.unit.test_sample import _contract, _domain


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A hundredth of a province, with files split at 3,000 rows (250,000 in real use)."""
    out = tmp_path_factory.mktemp("province")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sample, "ROWS_PER_FILE", 3000)
        return out, write_samples(out, seed=3, province=0.01)


def _files(manifest: dict[str, Any], dataset: str) -> list[dict[str, Any]]:
    return [f for f in manifest["files"] if f["dataset"] == dataset]


def test_sizes_are_a_provinces_mix(province: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = province
    sizes = Sizes.of_province(0.01)
    assert sizes == Sizes(10_000, 3_000, 10_000, 10_000)
    assert Sizes.of_province(1) == Sizes(1_000_000, 300_000, 1_000_000, 1_000_000)
    assert Sizes.of_scale(1) == Sizes(600, 81, 800, 2000)
    assert manifest["sizes"] == {"parcels": 10_000, "hsf_polygons": 3_000, "licences": 10_000,
                                 "orders": 10_000}
    assert manifest["province"] == 0.01 and manifest["scale"] is None
    rows = {d: sum(f["rows"] for f in _files(manifest, d))
            for d in ("farmland_pbf", "farmland_hsf", "licenses", "complaints")}
    assert rows == {"farmland_pbf": 10_000, "farmland_hsf": 3_000, "licenses": 10_000,
                    "complaints": 10_000}
    assert json.loads((out / "manifest.json").read_text("utf-8")) == manifest
    on_disk = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert on_disk == {f["file"] for f in manifest["files"]}
    # licences and orders in runs of at most 3,000 rows; one PBF file per county
    assert [f["rows"] for f in _files(manifest, "licenses")] == [2500] * 4
    assert len(_files(manifest, "farmland_pbf")) == 24
    # the planted problems over all files: a fixed share of the whole delivery, as at --scale
    for dataset, rule, fraction in (("farmland_pbf", "geometry_valid", 0.012),
                                    ("farmland_pbf", "key_unique", 0.01),
                                    ("licenses", "domain", 0.015),
                                    ("complaints", "dates_in_order", 0.02)):
        total = sum(f["bad_rows"].get(rule, 0) for f in _files(manifest, dataset))
        assert total == share(10_000, fraction), (dataset, rule)
    assert manifest["planted"]["pbf_overlap"] == manifest["planted"]["county_mismatch"] == 83


def test_each_pbf_file_is_one_countys_snapshot_with_its_own_counts(
        province: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = province
    known = _domain("farmland_pbf", "DLBM")
    for entry in _files(manifest, "farmland_pbf"):
        pbf = pyogrio.read_dataframe(out / entry["file"], encoding="GBK")
        assert pbf.crs.to_epsg() == 4525 and len(pbf) == entry["rows"]
        assert set(pbf["XZQDM"]) == {entry["file"][len("farmland_pbf_"):-len(".zip")]}
        invalid = ~shapely.is_valid(pbf.geometry.values)
        bad_class = ~pbf["DLBM"].isin(known).to_numpy()
        repeated = pbf["YJJBNTTBBH"].duplicated().to_numpy()  # within the county's file
        assert not (invalid & bad_class).any() and not (repeated & (invalid | bad_class)).any()
        found = {"geometry_valid": int(invalid.sum()), "domain": int(bad_class.sum()),
                 "key_unique": int(repeated.sum())}
        assert entry["bad_rows"] == {k: v for k, v in found.items() if v}, entry["file"]


def test_split_registers_and_orders_count_per_file(province: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = province
    codes = {c["code"] for c in _contract("region")["counties"]}
    for entry in _files(manifest, "licenses"):
        lic = pd.read_excel(out / entry["file"], header=1, dtype=str, engine="calamine")
        assert len(lic) == entry["rows"]
        unknown = int((~lic["行政区划代码"].isin(codes)).sum())
        assert entry["bad_rows"].get("domain", 0) == unknown, entry["file"]
    for entry in _files(manifest, "complaints"):
        cmp = pd.read_csv(out / entry["file"], encoding="GBK", dtype=str,
                          keep_default_na=False)
        assert len(cmp) == entry["rows"] and cmp["ＧＤＢＨ"].is_unique
        unknown = int((~cmp["XZQDM"].isin(codes)).sum())
        assert entry["bad_rows"].get("domain", 0) == unknown, entry["file"]


def test_projects_still_lie_mostly_on_the_farmland(province: tuple[Path, dict[str, Any]]) -> None:
    out, _ = province
    hsf = pyogrio.read_dataframe(out / "farmland_hsf.gpkg").to_crs(4490)
    projects = shapely.union_all(hsf.geometry.values[shapely.is_valid(hsf.geometry.values)])
    parcels = shapely.union_all([
        g for p in sorted(out.glob("farmland_pbf_*.zip"))
        for g in pyogrio.read_dataframe(p, encoding="GBK").to_crs(4490).geometry.values
        if shapely.is_valid(g)])
    assert 0.4 < shapely.intersection(parcels, projects).area / projects.area < 0.8


def test_a_province_of_parcels_fits_the_island() -> None:
    """A million parcels: every county gets exactly its share, blocks keep their gap from
    each other and stay inside their county (rejection sampling ran out of room at 120,000)."""
    cs = counties()
    rng = np.random.default_rng(42)
    need = _parcels_per_county(rng, cs, 1_000_000)
    blocks = place_blocks(rng, cs, need)
    cells = Cells.of(blocks)
    assert np.array_equal(np.bincount(blocks.county[cells.block], minlength=len(cs)), need)
    assert (blocks.unit < 1).any() and (blocks.unit > 0.3).all()  # finer fields, not slivers
    # blocks fit their slot's square less the gap whatever their rotation: grown by half the
    # gap over root 2 (a rotated rectangle's growth along the slot's axes) they stay apart
    grown = shapely.get_parts(blocks.footprints(cs, GAP_M / 2 / np.sqrt(2) - 1.0))
    left, right = shapely.STRtree(grown).query(grown, predicate="intersects")
    assert (left == right).all()
    for ci, county in enumerate(cs):
        mine = grown[blocks.county == ci]
        assert shapely.contains(county.polygon, mine).all(), county.name


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    first = write_samples(tmp_path / "a", seed=9, province=0.002)
    assert write_samples(tmp_path / "b", seed=9, province=0.002) == first
    for entry in first["files"]:
        name = entry["file"]
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    with pytest.raises(ValueError):
        Sizes.of_province(0)
