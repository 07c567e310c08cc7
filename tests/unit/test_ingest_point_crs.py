"""Undeclared point coordinates: GCJ-02 or CGCS2000/WGS 84, decided by the points' own counties."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box

from pipelines.contracts import load_contract, load_region
from pipelines.read import gcj02
from pipelines.read.conform import Conformed, conform
from pipelines.read.formats import open_delivery

KEY = b"unit-test-key-0123456789"
BORDER_LON, BORDER_LAT = 110.35, 19.95
# Four counties meeting at one corner near Haikou: the points sit within ~700 m of a border.
COUNTIES = gpd.GeoDataFrame({"county_code": ["460105", "460106", "460107", "460108"]}, geometry=gpd.GeoSeries([
    box(110.2, BORDER_LAT, BORDER_LON, 20.1), box(110.2, 19.8, BORDER_LON, BORDER_LAT),
    box(BORDER_LON, 19.8, 110.5, BORDER_LAT), box(BORDER_LON, BORDER_LAT, 110.5, 20.1)]),
    crs=4490).rename_geometry("geom")


def _true_points(n: int = 400) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(7)
    lon = BORDER_LON + rng.uniform(-0.007, 0.007, n)
    lat = BORDER_LAT + rng.uniform(-0.007, 0.007, n)
    codes = [COUNTIES.loc[COUNTIES.contains(gpd.points_from_xy([x], [y])[0]), "county_code"].iloc[0]
             for x, y in zip(lon, lat, strict=True)]
    return lon, lat, codes


def _work_orders(path: Path, lon: np.ndarray, lat: np.ndarray, codes: list[str]) -> None:
    pd.DataFrame({"GDBH": [f"G{i}" for i in range(len(lon))], "SLSJ": "2026-11-01 09:00:00",
                  "GDLX": "投诉", "JD": [f"{v:.7f}" for v in lon], "WD": [f"{v:.7f}" for v in lat],
                  "XZQDM": codes}).to_csv(path, index=False)


def _read(path: Path, dataset: str, tmp_path: Path,
          counties: gpd.GeoDataFrame | None = COUNTIES) -> Conformed:
    contract = load_contract(dataset)
    raw = open_delivery(path, contract, tmp_path / "work")
    return conform(raw, contract, load_region(), KEY, counties=counties)


def _max_error_m(result: Conformed, lon: np.ndarray, lat: np.ndarray) -> float:
    g = result.frame.geometry
    _, _, dist = Geod(ellps="GRS80").inv(g.x.to_numpy(), g.y.to_numpy(), lon, lat)
    return float(np.max(dist))


def test_gcj02_points_are_detected_from_their_counties(tmp_path: Path) -> None:
    lon, lat, codes = _true_points()
    glon, glat = gcj02.wgs84_to_gcj02(lon, lat)
    path = tmp_path / "licenses.csv"
    frame = pd.DataFrame({"TYSHXYDM": "91110000600037341L", "ZTMC": "甲", "ZZLX": "营业执照",
                          "ZZBH": [f"Z{i}" for i in range(len(lon))], "XZQDM": codes,
                          "JD": glon, "WD": glat, "ZBXT": ""})
    frame.to_csv(path, index=False)
    result = _read(path, "licenses", tmp_path)  # contract default is EPSG:4490
    evidence = result.notes["crs_detection"]
    assert evidence["chosen"] == "GCJ02" and evidence["points"] == len(lon)
    assert evidence["inside_if_gcj02"] > 0.99 > 0.9 > evidence["inside_if_wgs84"]
    assert _max_error_m(result, lon, lat) < 1.0


def test_unshifted_points_override_a_gcj02_default(tmp_path: Path) -> None:
    lon, lat, codes = _true_points()
    path = tmp_path / "complaints.csv"
    _work_orders(path, lon, lat, codes)
    result = _read(path, "complaints", tmp_path)  # hotline default is GCJ-02
    evidence = result.notes["crs_detection"]
    assert evidence["chosen"] == "EPSG:4490"
    assert evidence["inside_if_wgs84"] > 0.99 > 0.9 > evidence["inside_if_gcj02"]
    assert result.notes["crs"] == {"EPSG:4490": len(lon)}
    assert _max_error_m(result, lon, lat) < 0.01


def test_without_counties_the_contract_default_applies(tmp_path: Path) -> None:
    lon, lat, codes = _true_points(20)
    path = tmp_path / "complaints.csv"
    _work_orders(path, lon, lat, codes)
    result = _read(path, "complaints", tmp_path, counties=None)
    assert "crs_detection" not in result.notes
    assert result.notes["crs"] == {"GCJ02": 20}


def test_declared_rows_keep_their_system_and_unknown_counties_are_no_evidence(
        tmp_path: Path) -> None:
    lon, lat, codes = _true_points(20)
    glon, glat = gcj02.wgs84_to_gcj02(lon, lat)
    path = tmp_path / "licenses.csv"
    pd.DataFrame({"TYSHXYDM": "91110000600037341L", "ZTMC": "甲", "ZZLX": "营业执照",
                  "ZZBH": [f"Z{i}" for i in range(20)], "JD": glon, "WD": glat,
                  "XZQDM": codes[:3] + ["469099"] * 2 + codes[5:],  # 469099: not a county
                  "ZBXT": ["高德"] * 3 + [""] * 17}).to_csv(path, index=False)
    result = _read(path, "licenses", tmp_path)
    assert result.notes["crs_detection"]["points"] == 15
    assert result.notes["crs"] == {"GCJ02": 20}
    assert _max_error_m(result, lon, lat) < 1.0


@pytest.mark.parametrize("shifted", [True, False])
def test_detection_needs_no_point_deep_inside(tmp_path: Path, shifted: bool) -> None:
    # Every point within 700 m of a border: the offset alone must decide.
    lon, lat, codes = _true_points(60)
    if shifted:
        lon, lat = gcj02.wgs84_to_gcj02(lon, lat)
    path = tmp_path / "complaints.csv"
    _work_orders(path, lon, lat, codes)
    chosen = _read(path, "complaints", tmp_path).notes["crs_detection"]["chosen"]
    assert chosen == ("GCJ02" if shifted else "EPSG:4490")


def test_a_handful_of_points_is_not_enough_to_leave_the_default(tmp_path: Path) -> None:
    """Two points that fit CGCS2000 better are no evidence against the hotline's GCJ-02."""
    lon, lat, codes = _true_points(2)
    path = tmp_path / "complaints.csv"
    _work_orders(path, lon, lat, codes)
    detection = _read(path, "complaints", tmp_path).notes["crs_detection"]
    assert detection["chosen"] == "GCJ02" and detection["p_value"] >= 0.05
    assert detection["inside_only_if_wgs84"] >= detection["inside_only_if_gcj02"]
