"""The county polygons every other dataset is placed on: the current county-level rows of the
dataset that plays the `counties` role (`county_code`, `county_name`, geometry `geom`)."""

from __future__ import annotations

import geopandas as gpd

from pipelines.contracts import county_layer
from pipelines.warehouse.base import Warehouse

COUNTY = "county_code"  # the partition key every integrated row carries
COUNTY_CODE_DIGITS = 6  # GB/T 2260: 6 digits a county, 9 a township, 12 a village


def current_counties(wh: Warehouse) -> gpd.GeoDataFrame:
    """Empty when no dataset plays the role or none of its rows is loaded yet."""
    contract = county_layer()
    empty = gpd.GeoDataFrame({COUNTY: [], "county_name": []}, geometry=[], crs=4490)
    if contract is None or contract.county_column is None:
        return empty.rename_geometry("geom")
    rows = wh.read_current(contract)
    codes = rows[contract.county_column].astype(str)
    rows = rows[codes.str.len() == COUNTY_CODE_DIGITS]
    names = rows[contract.name_column] if contract.name_column else codes[rows.index]
    return gpd.GeoDataFrame({COUNTY: codes[rows.index].to_numpy(), "county_name": names.values},
                            geometry=rows.geometry.values, crs=4490).rename_geometry("geom")
