"""GCJ-02 conversion: offset size in Hainan, round trip, vectorised == scalar."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from pipelines.read.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02

GEOD = Geod(ellps="GRS80")  # CGCS2000's ellipsoid


def _hainan_grid() -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(108.62, 111.03, 25), np.linspace(18.16, 20.16, 21))
    return lon.ravel(), lat.ravel()


def test_offset_in_hainan_is_400_to_700_m() -> None:
    lon, lat = _hainan_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    _, _, dist = GEOD.inv(lon, lat, glon, glat)
    assert dist.min() > 400.0
    assert dist.max() < 700.0


def test_known_point_haikou() -> None:
    # Reference value of the public formula (same as the widely used coordTransform code).
    glon, glat = wgs84_to_gcj02(110.3, 20.0)
    assert glon == pytest.approx(110.3043031, abs=1e-7)
    assert glat == pytest.approx(19.9979228, abs=1e-7)


def test_round_trip_below_1_cm() -> None:
    lon, lat = _hainan_grid()
    back_lon, back_lat = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    _, _, dist = GEOD.inv(lon, lat, back_lon, back_lat)
    assert dist.max() < 0.01


def test_inverse_of_gcj_input() -> None:
    # Start from GCJ-02 (what a geocoder gives): forward of the inverse lands back on it.
    lon, lat = _hainan_grid()
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    glon, glat = wgs84_to_gcj02(wlon, wlat)
    assert np.abs(glon - lon).max() < 1e-9
    assert np.abs(glat - lat).max() < 1e-9


def test_vectorised_equals_scalar() -> None:
    lon, lat = _hainan_grid()
    glon, glat = wgs84_to_gcj02(lon, lat)
    wlon, wlat = gcj02_to_wgs84(glon, glat)
    for i in range(0, lon.size, 37):
        s_lon, s_lat = wgs84_to_gcj02(float(lon[i]), float(lat[i]))
        assert isinstance(s_lon, float)
        assert (s_lon, s_lat) == (glon[i], glat[i])
        b_lon, b_lat = gcj02_to_wgs84(s_lon, s_lat)
        assert b_lon == pytest.approx(wlon[i], abs=1e-12)
        assert b_lat == pytest.approx(wlat[i], abs=1e-12)


def test_shape_is_kept() -> None:
    lon = np.full((3, 4), 110.0)
    lat = np.full((3, 4), 19.5)
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon.shape == (3, 4) and glat.shape == (3, 4)
    zero_d = gcj02_to_wgs84(np.array(110.0), np.array(19.5))
    assert isinstance(zero_d[0], np.ndarray) and zero_d[0].shape == ()


def test_outside_china_passes_through_and_nan_stays_nan() -> None:
    lon = np.array([2.35, 110.0, np.nan])
    lat = np.array([48.85, 0.5, 19.0])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert glon[0] == 2.35 and glat[0] == 48.85
    assert glon[1] == 110.0 and glat[1] == 0.5
    wlon, wlat = gcj02_to_wgs84(lon, lat)
    assert wlon[0] == 2.35 and np.isnan(wlon[2]) and np.isnan(wlat[2])
