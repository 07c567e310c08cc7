"""GCJ-02 <-> WGS 84 / CGCS2000 conversion, vectorised over numpy arrays.

GCJ-02 is the offset ("Mars") coordinate system that Chinese web maps (AMap, Tencent) and
most 12345 hotline geocoders return. It has no EPSG code and PROJ does not support it, so
pyproj cannot transform it: the public forward formula is implemented here and inverted
numerically. CGCS2000 and WGS 84 differ by centimetres, far below the 400-700 m GCJ-02
offset, so both are treated as the same lon/lat here.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]

# Krasovsky 1940 ellipsoid: the formula is defined on it, not on WGS 84.
_A = 6378245.0
_EE = 0.00669342162296594323

# The formula leaves points outside this rough box of China unchanged.
_MIN_LON, _MAX_LON = 72.004, 137.8347
_MIN_LAT, _MAX_LAT = 0.8293, 55.8271

_INVERSE_TOLERANCE_DEG = 1e-9  # about 0.1 mm
_INVERSE_MAX_ITERATIONS = 30


def _out_of_china(lon: FloatArray, lat: FloatArray) -> npt.NDArray[np.bool_]:
    return (lon < _MIN_LON) | (lon > _MAX_LON) | (lat < _MIN_LAT) | (lat > _MAX_LAT)


def _delta_lat(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    return ret


def _delta_lon(x: FloatArray, y: FloatArray) -> FloatArray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return ret


def _forward(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The published WGS 84 -> GCJ-02 formula on float64 arrays of equal shape."""
    with np.errstate(invalid="ignore"):  # NaN and inf (unusable input) pass through quietly
        return _forward_finite(lon, lat)


def _forward_finite(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    dlat = _delta_lat(lon - 105.0, lat - 35.0)
    dlon = _delta_lon(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * np.pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    # Turn the metre-like offsets into degrees on the Krasovsky ellipsoid.
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * np.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, lon, lon + dlon), np.where(outside, lat, lat + dlat)


def _as_arrays(lon: float | FloatArray, lat: float | FloatArray) -> tuple[FloatArray, FloatArray]:
    lon_arr, lat_arr = np.broadcast_arrays(
        np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    )
    return lon_arr, lat_arr


def _scalar_call(lon: float | FloatArray, lat: float | FloatArray) -> bool:
    # Plain numbers come back as floats; any ndarray (even 0-d) comes back as arrays.
    return not isinstance(lon, np.ndarray) and not isinstance(lat, np.ndarray)


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """WGS 84 (or CGCS2000) lon/lat in degrees to GCJ-02; floats in, floats out."""
    lon_arr, lat_arr = _as_arrays(lon, lat)
    glon, glat = _forward(lon_arr, lat_arr)
    if _scalar_call(lon, lat):
        return float(glon), float(glat)
    # 0-d arithmetic yields numpy scalars: turn them back into arrays of the input's shape.
    return np.asarray(glon), np.asarray(glat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(
    lon: float | FloatArray, lat: float | FloatArray
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """GCJ-02 lon/lat to WGS 84 (or CGCS2000) by fixed-point iteration on the forward formula.

    The offset changes by well under 1e-3 per degree, so each step shrinks the error by about
    that factor: 3-4 steps reach 1e-9 degrees (sub-millimetre). NaN stays NaN.
    """
    target_lon, target_lat = _as_arrays(lon, lat)
    wlon, wlat = target_lon.copy(), target_lat.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        glon, glat = _forward(wlon, wlat)
        with np.errstate(invalid="ignore"):  # inf - inf
            err_lon, err_lat = glon - target_lon, glat - target_lat
        wlon = wlon - err_lon
        wlat = wlat - err_lat
        # NaN input gives a NaN error: count it as converged, not as a reason to loop on.
        worst = np.nan_to_num(np.maximum(np.abs(err_lon), np.abs(err_lat)), nan=0.0)
        if worst.size == 0 or float(np.max(worst)) < _INVERSE_TOLERANCE_DEG:
            break
    if _scalar_call(lon, lat):
        return float(wlon), float(wlat)
    return np.asarray(wlon), np.asarray(wlat)
