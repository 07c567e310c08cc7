"""Where a geometry went wrong, in the clerk's words: swapped or projected coordinates,
a self-intersecting boundary, a parcel outside the region."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from pipelines.contracts import Contract, Region

# shapely.is_valid_reason (GEOS) -> Chinese
INVALID_REASON_ZH: dict[str, str] = {
    "Self-intersection": "边界自相交", "Ring Self-intersection": "边界打结（环自相交）",
    "Too few points": "顶点过少", "Hole lies outside shell": "内环（洞）在外环之外",
    "Nested holes": "内环相互嵌套", "Interior is disconnected": "内部被边界切断",
    "Nested shells": "多个外环相互嵌套", "Duplicate Rings": "有重复的环",
    "Invalid Coordinate": "坐标无效", "Ring is not closed": "环未闭合",
}
_REASON = re.compile(r"^([^\[]+)(?:\[([-\d.eE+]+) ([-\d.eE+]+)\])?")
PROJECTED_ABOVE = 180.0  # a degree never exceeds it; Gauss-Kruger metres always do


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _extent_text(region: Region) -> str:
    e = region.extent
    return f"经度 {e.min_lon}–{e.max_lon}、纬度 {e.min_lat}–{e.max_lat}"


def county_at(geom: BaseGeometry | None, counties: Mapping[str, BaseGeometry] | None
              ) -> str | None:
    """The code of the county a geometry (its point on surface) lies in."""
    if geom is None or geom.is_empty or not counties:
        return None
    where = geom if geom.geom_type == "Point" else geom.representative_point()
    return next((code for code, poly in counties.items() if poly.covers(where)), None)


def _swapped_into(lon: float, lat: float, code: str | None, region: Region,
                  counties: Mapping[str, BaseGeometry] | None) -> str | None:
    """Where the point lands with lon and lat exchanged: the county its code names, another
    county, or (without county polygons) the region's extent; None if nowhere."""
    swapped = shapely.Point(lat, lon)
    if counties:
        named = counties.get(code or "")
        if named is not None and named.covers(swapped):
            return f"正好落在代码所填的 {code}（{region.county_name(code or '') or code}）内"
        other = county_at(swapped, counties)
        if other is not None:
            return f"落在 {other}（{region.county_name(other) or other}）内"
        return None
    e = region.extent
    if e.min_lon <= lat <= e.max_lon and e.min_lat <= lon <= e.max_lat:
        return f"落在本行政区范围（{_extent_text(region)}）内"
    return None


def point_hint(row: Mapping[str, Any], contract: Contract, region: Region,
               counties: Mapping[str, BaseGeometry] | None) -> str | None:
    coords = contract.coordinates
    if coords is not None:
        lon, lat = _number(row.get(coords.lon.lower())), _number(row.get(coords.lat.lower()))
        names = (coords.lon, coords.lat)
    else:
        geom = row.get("geometry")
        if geom is None or geom.is_empty or geom.geom_type != "Point":
            return None
        lon, lat, names = geom.x, geom.y, ("经度", "纬度")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return (f"{names[0]}、{names[1]}须成对填写有限的数字（十进制度）；"
                "没有坐标时两列都留空")
    said = f"{names[0]}={lon:g}、{names[1]}={lat:g}"
    if lon == 0 and lat == 0:
        return "坐标为 (0, 0)：没有坐标时请两列都留空，不要填 0"
    if abs(lon) > PROJECTED_ABOVE or abs(lat) > PROJECTED_ABOVE:
        return (f"坐标像是投影坐标（米）：{said}；请换算为经纬度（十进制度）后填写，"
                "或报送带 .prj 的图层文件")
    county = next((f for f in contract.fields if f.domain_ref == "county_codes"), None)
    code = row.get(county.column) if county else None
    landed = _swapped_into(lon, lat, code if isinstance(code, str) else None, region, counties)
    if landed:
        return (f"经纬度可能互换：{said}，把两列对调后（经度 {lat:g}、纬度 {lon:g}）{landed}；"
                f"请把经度填在 {names[0]}、纬度填在 {names[1]}")
    return f"坐标（{said}）不在本行政区范围（{_extent_text(region)}）内：请核对坐标和坐标系"


def geometry_problem(geom: BaseGeometry | None, rule: str, region: Region) -> str | None:
    """The specific trouble with a polygon, located in lon/lat."""
    if rule == "geometry_in_region":
        if geom is None or geom.is_empty:
            return None
        p = geom.representative_point()
        return (f"图形位于经度 {p.x:.5f}、纬度 {p.y:.5f} 附近，在本行政区范围（{_extent_text(region)}）"
                "之外：请检查 .prj 所写坐标系是否与坐标一致、是否选错了投影带")
    if geom is None:
        return ("图形缺失，或坐标无效（非有限数、超出经纬度范围）已被清除：请在 GIS 软件中检查该要素"
                "的坐标和坐标系")
    if geom.is_empty:
        return "图形为空：请补画图形或删除该要素"
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"图形类型为 {geom.geom_type}，应为面（Polygon/MultiPolygon）"
    reason = shapely.is_valid_reason(geom)
    if reason == "Valid Geometry":
        return None
    m = _REASON.match(reason)
    what = INVALID_REASON_ZH.get(m.group(1).strip(), reason) if m else reason
    where = f"，位置约经度 {float(m.group(2)):.6f}、纬度 {float(m.group(3)):.6f}" \
        if m and m.group(2) else ""
    return (f"图形无效：{what}{where}；请在 GIS 软件中修正（如 QGIS「检查几何」）后重新报送，"
            "边界是法定记录，不做自动修复")
