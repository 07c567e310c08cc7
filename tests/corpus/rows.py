"""Rows the way departments fill them in, for the corpus: small, valid unless a case breaks them.

Every value is derived from the case's own numbers (no random generator), so the corpus is
byte-for-byte reproducible and a case's expectations can name exact rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from pipelines.read import gcj02
from pipelines.sample.region import County, counties, geodesic_areas, metres_per_degree
from pipelines.validate.codes import id_card_check_char, uscc_check_char

PARCEL_SIDE_M = 120.0
ORDER_TYPES = ("投诉", "咨询", "求助", "建议", "举报")


@cache
def county(code: str) -> County:
    return next(c for c in counties() if c.code == code)


def admin_frame() -> gpd.GeoDataFrame:
    cs = counties()
    return gpd.GeoDataFrame({"XZQDM": [c.code for c in cs], "XZQMC": [c.name for c in cs]},
                            geometry=[c.polygon for c in cs], crs=4490)


def full_width(text: str) -> str:
    """As typed with a Chinese input method in full-width mode: ４６０１０５, Ｘ."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def id_number(county_code: str, n: int) -> str:
    first17 = f"{county_code}19800101{n % 1000:03d}"
    return first17 + id_card_check_char(first17)


def uscc(county_code: str, n: int) -> str:
    first17 = f"9{1}{county_code}MA5T{n:05d}"
    return first17 + uscc_check_char(first17)


def squares(code: str, n: int, first: int = 0) -> list[shapely.Polygon]:
    """n parcels of PARCEL_SIDE_M a side in a row east of the county seat, inside the county."""
    lon0, lat0 = county(code).seat
    per_lon, per_lat = metres_per_degree(lat0)
    side_lon, side_lat = PARCEL_SIDE_M / per_lon, PARCEL_SIDE_M / per_lat
    out = []
    for i in range(first, first + n):
        x0 = lon0 + 1.5 * side_lon * (i % 10)
        y0 = lat0 + 1.5 * side_lat * (i // 10)
        out.append(shapely.box(round(x0, 7), round(y0, 7), round(x0 + side_lon, 7),
                               round(y0 + side_lat, 7)))
    return out


def pbf_parcels(code: str, n: int, first: int = 0) -> gpd.GeoDataFrame:
    """Permanent basic farmland parcels with every field the standard lists, in EPSG:4490."""
    geoms = squares(code, n, first)
    idx = range(first, first + n)
    village = f"{code}001001"
    return gpd.GeoDataFrame({
        "BSM": [i + 1 for i in idx],
        "XZQDM": [code] * n,
        "XZQMC": [county(code).name] * n,
        "YJJBNTTBBH": [f"{code}{i + 1:06d}" for i in idx],
        "TBBH": [f"{i + 1:04d}" for i in idx],
        "DLBM": ["0101"] * n,
        "DLMC": ["水田"] * n,
        "QSXZ": ["30"] * n,
        "QSDWDM": [f"{village}0000000"] * n,
        "QSDWMC": ["红旗村民委员会"] * n,
        "ZLDWDM": [f"{village}0000000"] * n,
        "ZLDWMC": ["红旗村"] * n,
        "YJJBNTTBMJ": np.round(geodesic_areas(np.asarray(geoms, dtype=object)), 2),
        "GDDB": [5] * n,
        "SJNF": [2025] * n,
        "ZRRMC": [f"王{'一二三四五六七八九十'[i % 10]}" for i in idx],
        "ZRRZJHM": [id_number(code, i) for i in idx],
        "LXDH": [f"1380013{i:04d}" for i in idx],
    }, geometry=geoms, crs=4490)


def hsf_projects(code: str, n: int, first: int = 0) -> gpd.GeoDataFrame:
    geoms = [g.buffer(0.0002, join_style="mitre") for g in squares(code, n, first + 20)]
    idx = range(first, first + n)
    return gpd.GeoDataFrame({
        "XMBH": [f"GBZ{code}{2024}{i + 1:03d}" for i in idx],
        "XMMC": [f"{county(code).name}{2024}年高标准农田建设项目{i + 1}" for i in idx],
        "JSND": [2024] * n,
        "XZQDM": [code] * n,
        "JSMJ": [round(float(a) / (10000 / 15), 2) for a in geodesic_areas(
            np.asarray(geoms, dtype=object))],
        "XZGDMJ": [1.5] * n,
        "ZTZ": [120.0 + i for i in idx],
        "JSZT": ["已验收"] * n,
        "YSRQ": ["2025-06-30"] * n,
        "ZLDJ": ["符合"] * n,
    }, geometry=geoms, crs=4490)


@dataclass(frozen=True)
class Points:
    lon: list[float]
    lat: list[float]
    codes: list[str]


def border_points(codes: list[str], n: int, gcj: bool) -> Points:
    """n true positions 150 m inside a county border, spread over `codes`, chosen so that
    reading the file the wrong way puts them outside their county: GCJ-02 positions (gcj)
    read as CGCS2000 fall outside, and CGCS2000 positions read as GCJ-02 fall outside."""
    lon: list[float] = []
    lat: list[float] = []
    used: list[str] = []
    per = max(1, -(-n // len(codes)))
    for code in codes:
        c = county(code)
        inner = c.polygon.buffer(-0.0015)
        part = inner if isinstance(inner, shapely.Polygon) else max(inner.geoms,
                                                                    key=lambda g: g.area)
        ring = shapely.get_coordinates(shapely.segmentize(part.exterior, 0.01))
        found = 0
        for x, y in ring[::2]:
            if found == per or len(lon) == n:
                break
            if gcj:
                wx, wy = gcj02.wgs84_to_gcj02(float(x), float(y))
                wrong_x, wrong_y = wx, wy  # the GCJ-02 numbers read as if CGCS2000
                file_x, file_y = wx, wy
            else:
                wrong_x, wrong_y = gcj02.gcj02_to_wgs84(float(x), float(y))
                file_x, file_y = float(x), float(y)
            if not c.polygon.contains(shapely.Point(wrong_x, wrong_y)):
                lon.append(round(file_x, 6))
                lat.append(round(file_y, 6))
                used.append(code)
                found += 1
    assert len(lon) == n, f"only {len(lon)} border points in {codes}"
    return Points(lon, lat, used)


def complaints(tag: str, points: Points) -> pd.DataFrame:
    """Closed work orders at the given positions, every clock in order."""
    n = len(points.lon)
    day = [f"2026-11-{2 + i % 5:02d}" for i in range(n)]
    return pd.DataFrame({
        "GDBH": [f"{tag}{i + 1:05d}" for i in range(n)],
        "SLSJ": [f"{d} 09:{i % 60:02d}:00" for i, d in enumerate(day)],
        "GDLY": ["电话"] * n,
        "GDLX": [ORDER_TYPES[i % len(ORDER_TYPES)] for i in range(n)],
        "NRMS": [f"反映小区附近施工噪音扰民，编号{i + 1}" for i in range(n)],
        "SQDZ": [f"{county(c).name}人民路{i + 1}号" for i, c in enumerate(points.codes)],
        "JD": points.lon,
        "WD": points.lat,
        "XZQDM": points.codes,
        "ZBDW": ["住房和城乡建设局"] * n,
        "PDSJ": [f"{d} 09:30:00" for d in day],
        "SCLXSJ": [f"{d} 10:15:00" for d in day],
        "BLYJSJ": [f"{d} 16:00:00" for d in day],
        "BJSJ": [f"{d} 17:30:00" for d in day],
        "BLJG": ["解决"] * n,
        "MYD": ["满意"] * n,
        "SJQYMC": [f"海南{tag}建设工程有限公司"] * n,
        "SJQYXYDM": [uscc(c, i) for i, c in enumerate(points.codes)],
        "YWFL1": ["城乡建设"] * n,
        "YWFL2": ["建筑施工"] * n,
        "YWFL3": ["噪音扰民"] * n,
        "LDRXM": [f"李{'甲乙丙丁戊己庚辛壬癸'[i % 10]}" for i in range(n)],
        "LDRDH": [f"1391234{i:04d}" for i in range(n)],
        "LDRZJHM": [id_number(c, 100 + i) for i, c in enumerate(points.codes)],
    })


def licenses(tag: str, points: Points) -> pd.DataFrame:
    n = len(points.lon)
    return pd.DataFrame({
        "TYSHXYDM": [uscc(c, 500 + i) for i, c in enumerate(points.codes)],
        "ZTMC": [f"海南{tag}{i + 1}号贸易有限公司" for i in range(n)],
        "ZTLX": ["有限责任公司"] * n,
        "FDDBR": ["陈某"] * n,
        "CLRQ": ["2019-03-15"] * n,
        "DJJG": [f"{county(c).name}市场监督管理局" for c in points.codes],
        "JYFW": ["日用百货销售"] * n,
        "ZS": [f"{county(c).name}滨海大道{i + 1}号" for i, c in enumerate(points.codes)],
        "XZQDM": points.codes,
        "JD": points.lon,
        "WD": points.lat,
        "ZBXT": [None] * n,
        "ZZLX": ["营业执照"] * n,
        "ZZBH": [f"ZZ{tag}{i + 1:05d}" for i in range(n)],
        "YXQQ": ["2019-03-15"] * n,
        "YXQZ": ["2039-03-14"] * n,
        "DJZT": ["存续"] * n,
    })


def digit_uscc() -> str:
    """A valid 统一社会信用代码 of digits only: what Excel turns into 9.1E+17."""
    for n in range(10_000):
        first17 = f"9146010012345{n:04d}"
        if uscc_check_char(first17).isdigit():
            return first17 + uscc_check_char(first17)
    raise AssertionError("no all-digit code in range")
