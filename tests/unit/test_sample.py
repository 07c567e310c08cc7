"""`yitu sample`: files, row counts, planted problems and determinism, read back independently."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
import yaml
from pyproj import Geod

from pipelines.read.gcj02 import gcj02_to_wgs84
from pipelines.sample import write_samples
from pipelines.validate.codes import is_valid_id_card, is_valid_uscc

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
FILES = (
    "admin_divisions.gpkg",
    "farmland_pbf.zip",
    "farmland_hsf.gpkg",
    "licenses.xlsx",
    "complaints.csv",
    "manifest.json",
)
GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid


def _contract(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((SCHEMAS / f"{name}.yml").read_text(encoding="utf-8"))
    return data


def _domain(dataset: str, code: str) -> set[str]:
    return set(next(f for f in _contract(dataset)["fields"] if f["code"] == code)["domain"])


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("sample42")
    return out, write_samples(out, seed=42, scale=1)


def _entry(manifest: dict[str, Any], dataset: str) -> dict[str, Any]:
    return next(f for f in manifest["files"] if f["dataset"] == dataset)


def _read_pbf(out: Path) -> gpd.GeoDataFrame:
    return pyogrio.read_dataframe(out / "farmland_pbf.zip", encoding="GBK")


def _read_licenses(out: Path) -> pd.DataFrame:
    df = pd.read_excel(out / "licenses.xlsx", header=1, dtype=str, keep_default_na=False)
    labels = {f["label"]: f["code"] for f in _contract("licenses")["fields"]}
    return df.rename(columns=labels)


def _read_complaints(out: Path) -> pd.DataFrame:
    df = pd.read_csv(out / "complaints.csv", encoding="GBK", dtype=str, keep_default_na=False)
    labels = {f["label"]: f["code"] for f in _contract("complaints")["fields"]}
    # Full-width letters and stray spaces are the department's, not the data's.
    clean = [unicodedata.normalize("NFKC", c).strip() for c in df.columns]
    return df.set_axis([labels.get(c, c) for c in clean], axis=1)


def _county_codes() -> set[str]:
    return {c["code"] for c in _contract("region")["counties"]}


def test_writes_all_files_and_manifest(sample: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sample
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == manifest
    assert manifest["region"] == "海南省" and manifest["seed"] == 42
    for entry in manifest["files"]:
        assert entry["expected_loaded"] == entry["rows"] - sum(entry["bad_rows"].values())
        assert sum(entry["bad_rows"].values()) <= 0.15 * entry["rows"]
    zipped = pyogrio.list_layers(out / "farmland_pbf.zip")
    assert zipped[0][0] == "YJJBNTBHTB"


def test_row_counts_match_manifest(sample: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sample
    admin = pyogrio.read_dataframe(out / "admin_divisions.gpkg", layer="XZQ")
    hsf = pyogrio.read_dataframe(out / "farmland_hsf.gpkg", layer="GBZNT")
    counts = {
        "admin_divisions": len(admin),
        "farmland_pbf": len(_read_pbf(out)),
        "farmland_hsf": len(hsf),
        "licenses": len(_read_licenses(out)),
        "complaints": len(_read_complaints(out)),
    }
    assert counts == {f["dataset"]: f["rows"] for f in manifest["files"]}
    assert admin.crs.to_epsg() == 4490 and set(admin["XZQDM"]) == _county_codes()
    assert hsf.crs.to_epsg() == 4545 and "xmbh" in hsf.columns


def test_pbf_problems_are_there(sample: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sample
    entry = _entry(manifest, "farmland_pbf")
    pbf = _read_pbf(out)
    assert pbf.crs.to_epsg() == 4525
    assert "秀英区" in set(pbf["XZQMC"])  # GBK decoded right
    invalid = ~shapely.is_valid(pbf.geometry.values)
    bad_class = ~pbf["DLBM"].isin(_domain("farmland_pbf", "DLBM")).to_numpy()
    repeated = pbf["YJJBNTTBBH"].duplicated().to_numpy()
    fail = invalid | bad_class | repeated
    assert invalid.sum() + bad_class.sum() + repeated.sum() == fail.sum()  # one rule per row
    assert entry["bad_rows"] == {
        "geometry_valid": int(invalid.sum()),
        "domain": int(bad_class.sum()),
        "key_unique": int(repeated.sum()),
    }

    bad_id = ~pbf["ZRRZJHM"].map(is_valid_id_card).to_numpy()
    lonlat = pbf.to_crs(4490)
    area = np.array([abs(GEOD.geometry_area_perimeter(g)[0]) for g in lonlat.geometry.values])
    off = np.abs(pbf["YJJBNTTBMJ"].to_numpy() / area - 1.0) > 0.2
    assert not (fail & (bad_id | off)).any() and not (bad_id & off).any()
    assert entry["warn_rows"] == {"id_card_check": int(bad_id.sum()), "area_agrees": int(off.sum()),
                                  "county_location": manifest["planted"]["county_mismatch"]}
    assert np.abs(pbf["YJJBNTTBMJ"].to_numpy()[~off] / area[~off] - 1.0).max() < 0.001

    # Integration cases among the rows that load.
    good = lonlat[~fail]
    g = good.geometry.values
    left, right = shapely.STRtree(g).query(g, predicate="intersects")
    pair = left < right
    overlaps = shapely.area(shapely.intersection(g[left[pair]], g[right[pair]])) > 0
    assert int(overlaps.sum()) == manifest["planted"]["pbf_overlap"] >= 1
    admin = pyogrio.read_dataframe(out / "admin_divisions.gpkg")
    spots = gpd.GeoDataFrame(good[["XZQDM"]], geometry=shapely.point_on_surface(g), crs=4490)
    joined = spots.sjoin(admin.rename(columns={"XZQDM": "county"}), predicate="within")
    assert len(joined) == len(good)
    assert (
        int((joined["XZQDM"] != joined["county"]).sum()) == manifest["planted"]["county_mismatch"]
    )


def test_hsf_problems_and_overlay(sample: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sample
    hsf = pyogrio.read_dataframe(out / "farmland_hsf.gpkg").to_crs(4490)
    invalid = ~shapely.is_valid(hsf.geometry.values)
    bad_state = ~hsf["jszt"].isin(_domain("farmland_hsf", "JSZT")).to_numpy()
    assert not (invalid & bad_state).any()
    assert _entry(manifest, "farmland_hsf")["bad_rows"] == {
        "geometry_valid": int(invalid.sum()),
        "domain": int(bad_state.sum()),
    }
    assert set(hsf.loc[hsf["ysrq"].notna(), "jszt"]) <= {"已验收"}
    # The overlay has all three kinds of pieces: about 60 % of project area is on parcels.
    pbf = _read_pbf(out).to_crs(4490)
    parcels = shapely.union_all(pbf.geometry.values[shapely.is_valid(pbf.geometry.values)])
    projects = shapely.union_all(hsf.geometry.values[~invalid])
    both = shapely.intersection(parcels, projects).area
    assert 0.4 < both / projects.area < 0.8
    assert shapely.difference(parcels, projects).area > 0


def test_license_problems_are_there(sample: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sample
    lic = _read_licenses(out)
    assert lic["XZQDM"].str.fullmatch(r"\d{6}").all()  # codes stayed text
    unknown = ~lic["XZQDM"].isin(_county_codes()).to_numpy()
    lon, lat = lic["JD"].astype(float).to_numpy(), lic["WD"].astype(float).to_numpy()
    ext = _contract("region")["extent"]
    outside = ~(
        (lon >= ext["min_lon"])
        & (lon <= ext["max_lon"])
        & (lat >= ext["min_lat"])
        & (lat <= ext["max_lat"])
    )
    bad_code = ~lic["TYSHXYDM"].map(is_valid_uscc).to_numpy()
    assert not (unknown & outside).any() and not ((unknown | outside) & bad_code).any()
    entry = _entry(manifest, "licenses")
    assert entry["bad_rows"] == {
        "domain": int(unknown.sum()),
        "geometry_in_region": int(outside.sum()),
    }
    assert entry["warn_rows"] == {"uscc_check": int(bad_code.sum())}
    assert lic["ZZBH"].is_unique
    assert (lic.groupby("TYSHXYDM")["ZTMC"].nunique() == 1).all()
    assert set(lic["ZZLX"]) <= {"营业执照", "食品经营许可证", "排污许可证", "采矿许可证"}
    # Licences inside a loadable parcel.
    pbf = _read_pbf(out).to_crs(4490)
    fail = (
        ~shapely.is_valid(pbf.geometry.values)
        | pbf["YJJBNTTBBH"].duplicated().to_numpy()
        | ~pbf["DLBM"].isin(_domain("farmland_pbf", "DLBM")).to_numpy()
    )
    loaded = ~(unknown | outside)
    points = shapely.points(lon[loaded], lat[loaded])
    hit, _ = shapely.STRtree(pbf.geometry.values[~fail]).query(points, predicate="within")
    assert np.unique(hit).size == manifest["planted"]["licenses_on_pbf"] >= 1


def test_complaint_problems_are_there(sample: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = sample
    cmp = _read_complaints(out)
    assert cmp["GDBH"].is_unique and cmp["GDBH"].str.fullmatch(r"2026\d{9}").all()
    unknown = ~cmp["XZQDM"].isin(_county_codes()).to_numpy()
    steps = pd.DataFrame(
        {
            c: pd.to_datetime(cmp[c].replace("", None), format="%Y-%m-%d %H:%M:%S")
            for c in ["PDSJ", "SCLXSJ", "BLYJSJ", "BJSJ"]
        }
    )
    disorder = np.zeros(len(cmp), dtype=bool)
    for i, a in enumerate(steps.columns):
        for b in steps.columns[i + 1 :]:
            disorder |= (steps[b] < steps[a]).to_numpy()  # NaT compares False: gaps are fine
    assert not (unknown & disorder).any()
    entry = _entry(manifest, "complaints")
    assert entry["bad_rows"] == {
        "domain": int(unknown.sum()),
        "dates_in_order": int(disorder.sum()),
    }
    code = cmp["SJQYXYDM"]
    bad_code = ((code != "") & ~code.map(is_valid_uscc)).to_numpy()
    ids = cmp["LDRZJHM"]
    bad_id = ((ids != "") & ~ids.map(is_valid_id_card)).to_numpy()
    assert not ((unknown | disorder) & (bad_code | bad_id)).any()
    assert entry["warn_rows"] == {
        "uscc_check": int(bad_code.sum()),
        "id_card_check": int(bad_id.sum()),
    }
    assert 0.05 < (cmp["JD"] == "").mean() < 0.15
    # The coordinates are GCJ-02: only after conversion do they land in their county.
    admin = pyogrio.read_dataframe(out / "admin_divisions.gpkg").set_index("XZQDM")
    ok = (cmp["JD"] != "").to_numpy() & ~unknown
    lon, lat = (
        cmp.loc[ok, "JD"].astype(float).to_numpy(),
        cmp.loc[ok, "WD"].astype(float).to_numpy(),
    )
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    county = admin.geometry.loc[cmp.loc[ok, "XZQDM"]].values
    assert shapely.contains_xy(county, wlon, wlat).mean() > 0.97
    assert np.median(np.hypot(lon - wlon, lat - wlat)) > 0.003  # ~500 m off


def test_same_seed_same_files_other_seed_other_data(
    sample: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, manifest = sample
    again = write_samples(tmp_path / "again", seed=42, scale=1)
    assert again == manifest
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    write_samples(tmp_path / "other", seed=7, scale=1)
    for name in ("farmland_pbf.zip", "licenses.xlsx", "complaints.csv"):
        assert (tmp_path / "other" / name).read_bytes() != (out / name).read_bytes(), name
    other = _read_pbf(tmp_path / "other")
    assert not other.geometry.geom_equals(_read_pbf(out).geometry).all()
