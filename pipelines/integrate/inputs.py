"""The current core data the integration reads, and its split into county partitions."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import geopandas as gpd
import pandas as pd

from pipelines.contracts import load_contract
from pipelines.warehouse import Warehouse

COUNTY = "county_code"  # the partition key every integrated row carries


@dataclass(frozen=True)
class Inputs:
    counties: gpd.GeoDataFrame  # county_code, county_name, geom
    farmland_pbf: gpd.GeoDataFrame
    farmland_hsf: gpd.GeoDataFrame
    licenses: gpd.GeoDataFrame
    complaints: gpd.GeoDataFrame

    def county(self, code: str) -> Inputs:
        """The partition of one county: rows located there (or, unlocated, stated there)."""
        parts = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: v[v[COUNTY] == code] for k, v in parts.items()})


def locate(frame: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
           stated: str | None = None) -> pd.Series:
    """County of each row by where it lies; rows without a geometry fall back to `stated`."""
    pts = gpd.GeoDataFrame(geometry=frame.geometry.representative_point(), crs=frame.crs)
    hit = gpd.sjoin(pts, counties[[COUNTY, counties.geometry.name]], how="left",
                    predicate="within")
    located = hit[~hit.index.duplicated(keep="first")][COUNTY].reindex(frame.index)
    if stated is not None:
        located = located.fillna(frame[stated].where(frame[stated].isin(counties[COUNTY])))
    return located


def load_inputs(wh: Warehouse) -> Inputs:
    admin = wh.read_current(load_contract("admin_divisions"))
    counties = admin[admin["xzqdm"].str.len() == 6].rename(
        columns={"xzqdm": COUNTY, "xzqmc": "county_name"})[[COUNTY, "county_name", "geom"]]
    counties = gpd.GeoDataFrame(counties.reset_index(drop=True), geometry="geom", crs=4490)
    counties[COUNTY] = counties[COUNTY].astype(str)
    frames = {}
    for name in ("farmland_pbf", "farmland_hsf", "licenses", "complaints"):
        gdf = wh.read_current(load_contract(name)).reset_index(drop=True)
        gdf = gdf.set_crs(4490, allow_override=True)
        gdf[COUNTY] = locate(gdf, counties, stated="xzqdm")
        frames[name] = gdf
    return Inputs(counties=counties, **frames)
