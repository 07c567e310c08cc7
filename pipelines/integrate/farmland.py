"""The one farmland map: permanent basic farmland (PBF) and high-standard farmland (HSF)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines.geodesy import M2_PER_MU, ellipsoidal_area_m2
from pipelines.integrate.inputs import COUNTY, locate

BASE_MAP_COLUMNS = ["class", COUNTY, "pbf_id", "hsf_project", "area_m2", "area_mu"]
CONFLICT_COLUMNS = ["conflict_type", COUNTY, "pbf_id", "pbf_id_other", "hsf_project",
                    "stated_county", "area_m2"]


def with_area(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf.copy()
    gdf["area_m2"] = ellipsoidal_area_m2(gdf.geometry).round(2)
    gdf["area_mu"] = (gdf["area_m2"] / M2_PER_MU).round(4)
    return gdf


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({c: [] for c in columns}, geometry=[], crs=4490)


def farmland_base_map(pbf: gpd.GeoDataFrame, hsf: gpd.GeoDataFrame,
                      counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Overlay PBF parcels and HSF project areas into pieces classed by what covers them."""
    left = gpd.GeoDataFrame({"pbf_id": pbf["yjjbnttbbh"].values}, geometry=pbf.geometry.values,
                            crs=4490)
    right = gpd.GeoDataFrame({"hsf_project": hsf["xmbh"].values}, geometry=hsf.geometry.values,
                             crs=4490)
    if left.empty and right.empty:
        return _empty(BASE_MAP_COLUMNS)
    if left.empty or right.empty:
        pieces = pd.concat([left, right], ignore_index=True)
    else:
        pieces = gpd.overlay(left, right, how="union", keep_geom_type=True)
    pieces = gpd.GeoDataFrame(pieces, geometry=pieces.geometry.name, crs=4490)
    pieces = pieces[~pieces.geometry.is_empty & pieces.geometry.notna()]
    has_pbf, has_hsf = pieces["pbf_id"].notna(), pieces["hsf_project"].notna()
    pieces["class"] = np.select([has_pbf & has_hsf, has_pbf], ["pbf_and_hsf", "pbf_only"],
                                "hsf_only")
    pieces[COUNTY] = locate(pieces, counties)
    pieces = with_area(pieces.reset_index(drop=True))
    return pieces[[*BASE_MAP_COLUMNS, pieces.geometry.name]].rename_geometry("geom")


def farmland_conflicts(pbf: gpd.GeoDataFrame, hsf: gpd.GeoDataFrame,
                       base_map: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Where the departments' layers disagree."""
    parts: list[gpd.GeoDataFrame] = []
    outside = base_map[base_map["class"] == "hsf_only"]
    if len(outside):
        parts.append(gpd.GeoDataFrame({
            "conflict_type": "hsf_outside_pbf", COUNTY: outside[COUNTY].values,
            "hsf_project": outside["hsf_project"].values, "area_m2": outside["area_m2"].values,
        }, geometry=outside.geometry.values, crs=4490))
    if len(pbf) > 1:
        p = pbf[["yjjbnttbbh", COUNTY, pbf.geometry.name]].reset_index(drop=True)
        pairs = gpd.sjoin(p, p, predicate="intersects")
        pairs = pairs[pairs.index < pairs["index_right"]]
        if len(pairs):
            a = p.geometry.values[pairs.index.values]
            b = p.geometry.values[pairs["index_right"].values]
            inter = gpd.GeoSeries(a, crs=4490).intersection(gpd.GeoSeries(b, crs=4490))
            polygonal = inter.geom_type.isin(["Polygon", "MultiPolygon"]).values
            overlaps = gpd.GeoDataFrame({
                "conflict_type": "pbf_overlap", COUNTY: pairs[f"{COUNTY}_left"].values,
                "pbf_id": pairs["yjjbnttbbh_left"].values,
                "pbf_id_other": pairs["yjjbnttbbh_right"].values,
            }, geometry=inter.values, crs=4490)[polygonal]
            overlaps["area_m2"] = ellipsoidal_area_m2(overlaps.geometry).round(2)
            parts.append(overlaps[overlaps["area_m2"] > 0])
    for frame, id_col, out_col in ((pbf, "yjjbnttbbh", "pbf_id"), (hsf, "xmbh", "hsf_project")):
        wrong = frame[frame[COUNTY].notna() & (frame["xzqdm"] != frame[COUNTY])]
        if len(wrong):
            parts.append(gpd.GeoDataFrame({
                "conflict_type": "county_mismatch", COUNTY: wrong[COUNTY].values,
                out_col: wrong[id_col].values, "stated_county": wrong["xzqdm"].values,
                "area_m2": ellipsoidal_area_m2(wrong.geometry).round(2),
            }, geometry=wrong.geometry.values, crs=4490))
    if not parts:
        return _empty(CONFLICT_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    for c in CONFLICT_COLUMNS:
        if c not in out.columns:
            out[c] = None
    out = gpd.GeoDataFrame(out, geometry=out.geometry.name, crs=4490)
    return out[[*CONFLICT_COLUMNS, out.geometry.name]].rename_geometry("geom")
