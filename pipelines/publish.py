"""Publish: the six layers of DESIGN.md, swapped in together, with Chinese labels."""

from __future__ import annotations

import geopandas as gpd

from pipelines.geodesy import as_multipolygons
from pipelines.integrate import LAYERS
from pipelines.warehouse import Warehouse

LABELS: dict[str, dict[str, str]] = {
    "farmland_base_map": {"": "一张底图：永久基本农田与高标准农田叠加", "class": "类别",
                          "county_code": "县级行政区划代码", "county_name": "县级行政区名称",
                          "pbf_id": "永久基本农田图斑编号（多个时取最小）",
                          "pbf_ids": "覆盖该块的全部永久基本农田图斑编号",
                          "hsf_project": "高标准农田项目编号（多个时取最小）",
                          "hsf_projects": "覆盖该块的全部高标准农田项目编号",
                          "area_m2": "椭球面积（平方米）", "area_mu": "椭球面积（亩）"},
    "farmland_conflicts": {"": "部门图层冲突", "conflict_type": "冲突类型",
                           "county_code": "县级行政区划代码", "pbf_id": "永久基本农田图斑编号",
                           "pbf_id_other": "与之重叠的图斑编号", "hsf_project": "高标准农田项目编号",
                           "stated_county": "报送的行政区代码", "area_m2": "面积（平方米）",
                           "area_mu": "面积（亩）"},
    "licenses_on_farmland": {"": "位于永久基本农田上的持证主体", "uscc": "统一社会信用代码",
                             "name": "主体名称", "license_type": "证照类型",
                             "license_no": "证照编号", "pbf_id": "永久基本农田图斑编号",
                             "county_code": "县级行政区划代码"},
    "complaints_enriched": {"": "12345工单上图", "order_id": "工单编号",
                            "received_at": "受理时间", "county_code": "县级行政区划代码",
                            "order_type": "工单类型", "handler": "承办单位",
                            "uscc": "涉及企业统一社会信用代码", "on_pbf": "位于永久基本农田",
                            "contact_within_2h": "2小时内联系",
                            "proposal_within_1wd": "1个工作日内提出办理意见",
                            "solved_within_15wd": "15个工作日内办结",
                            "sla_calendar_unknown": "工作日历未知（时限无法判定）",
                            "result": "办理结果", "satisfaction": "满意度",
                            "caller_token": "来电人令牌", "caller_phone_masked": "来电人电话（脱敏）"},
    "enterprise_profile": {"": "企业画像", "uscc": "统一社会信用代码", "name": "主体名称",
                           "county_code": "县级行政区划代码",
                           "licenses": "证照数", "licenses_expired": "过期证照数",
                           "complaints": "涉及工单数", "complaints_last_90d": "近90天涉及工单数",
                           "on_pbf": "位于永久基本农田"},
    "region_summary": {"": "县级汇总", "county_code": "县级行政区划代码", "county_name": "名称",
                       "pbf_area_mu": "永久基本农田面积（亩）", "hsf_area_mu": "高标准农田面积（亩）",
                       "hsf_on_pbf_area_mu": "高标准农田位于永久基本农田的面积（亩）",
                       "licenses": "证照数", "licenses_on_pbf": "位于永久基本农田的证照数",
                       "complaints": "工单数",
                       "sla_contact_rate": "2小时联系率", "sla_proposal_rate": "1工作日提出意见率",
                       "sla_solved_rate": "15工作日办结率", "satisfaction_rate": "满意率"},
}


# One geometry type per layer: analysts' tools (QGIS, ogrinfo) need a typed geometry column.
GEOMETRY_TYPE = {
    "farmland_base_map": "MultiPolygon", "farmland_conflicts": "MultiPolygon",
    "licenses_on_farmland": "Point", "complaints_enriched": "Point",
    "enterprise_profile": "Point", "region_summary": "MultiPolygon",
}


# Yes/no columns, null where not known (an SLA not yet due): typed so that PostGIS stores
# boolean and a GeoPackage Integer(Boolean) even when a warehouse hands back objects and None.
BOOLEAN_COLUMNS = {
    "complaints_enriched": ("on_pbf", "contact_within_2h", "proposal_within_1wd",
                            "solved_within_15wd", "sla_calendar_unknown"),
    "enterprise_profile": ("on_pbf",),
}


def analyst_types(name: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The layer's declared column types, whichever warehouse it was read back from."""
    flags = [c for c in BOOLEAN_COLUMNS.get(name, ()) if c in gdf.columns]
    if not flags:
        return gdf
    gdf = gdf.copy()
    for c in flags:
        gdf[c] = gdf[c].astype("boolean")
    return gdf


def _typed(name: str, gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf.rename_geometry("geom") if gdf.geometry.name != "geom" else gdf
    gdf = analyst_types(name, gdf)
    if GEOMETRY_TYPE[name] == "MultiPolygon":
        gdf = gdf.set_geometry(as_multipolygons(gdf.geometry))
    kinds = set(gdf.geometry.dropna().geom_type)
    if kinds - {GEOMETRY_TYPE[name]}:
        raise ValueError(f"{name}: geometries of type {sorted(kinds)}, "
                         f"expected {GEOMETRY_TYPE[name]}")
    return gdf


def publish_layers(wh: Warehouse, layers: dict[str, gpd.GeoDataFrame]) -> None:
    missing = set(LAYERS) - set(layers)
    if missing:
        # Nothing is published half-built.
        raise ValueError(f"refusing to publish: layers missing {sorted(missing)}")
    wh.publish({name: _typed(name, layers[name]) for name in LAYERS}, LABELS)
