"""Integration: the views no single department can produce, built per county partition.

`integrate_county` is what a mapped Airflow task runs; `finish` merges the partitions and adds
the views that span counties. The CLI uses `integrate_unpartitioned`, which gives the same
layers in one process, faster.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import pandas as pd

from pipelines.contracts import LAYER_ORDER, all_layers
from pipelines.integrate.farmland import farmland_base_map, farmland_conflicts
from pipelines.integrate.inputs import COUNTY, UNLOCATED, Inputs, Zone, geoms_of, load_inputs
from pipelines.integrate.planar import interior_overlaps
from pipelines.integrate.registers import complaints_enriched, licenses_on_farmland
from pipelines.integrate.summary import enterprise_profile, region_summary

LAYERS = LAYER_ORDER
PARTITIONED = tuple(layer.layer for layer in all_layers() if layer.partitioned)

__all__ = ["LAYERS", "UNLOCATED", "Inputs", "load_inputs", "partitions", "integrate_county",
           "integrate_unpartitioned", "finish"]


def partitions(inputs: Inputs) -> list[str]:
    codes = list(inputs.counties[COUNTY])
    if inputs.needs_unlocated():
        codes.append(UNLOCATED)
    return codes


def _layers(inputs: Inputs, own: Inputs, zone: Zone,
            as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """The partitioned layers of `own` rows and of the land of `zone`. Farmland is read for
    the whole zone and points are matched against every parcel, so a partition sees its
    neighbours' parcels where they reach across the county line."""
    zone_pbf, zone_hsf = zone.rows(inputs.farmland_pbf), zone.rows(inputs.farmland_hsf)
    names = inputs.counties.set_index(COUNTY)["county_name"]
    pbf_overlaps = interior_overlaps(geoms_of(zone_pbf))
    base = farmland_base_map(zone_pbf, zone_hsf, zone, names, pbf_overlaps)
    return {
        "farmland_base_map": base,
        "farmland_conflicts": farmland_conflicts(own.farmland_pbf, own.farmland_hsf,
                                                 zone_pbf, base, zone, pbf_overlaps),
        "licenses_on_farmland": licenses_on_farmland(own.licenses, inputs.farmland_pbf),
        # registers are matched against all licences: a business may sit in another county
        "complaints_enriched": complaints_enriched(own.complaints, inputs.licenses,
                                                   inputs.farmland_pbf, as_of),
    }


def integrate_county(inputs: Inputs, code: str, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """One partition: a county's rows and land, or UNLOCATED (rows in no county, land
    outside every county)."""
    return _layers(inputs, inputs.county(code), inputs.zone([code]), as_of)


def integrate_unpartitioned(inputs: Inputs, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    """All rows and all land at once: what the partitioned run must reproduce exactly."""
    return finish(inputs, [_layers(inputs, inputs, inputs.whole(), as_of)], as_of)


def finish(inputs: Inputs, parts: list[dict[str, gpd.GeoDataFrame]],
           as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    merged: dict[str, gpd.GeoDataFrame] = {}
    for layer in PARTITIONED:
        frames = [p[layer] for p in parts if len(p[layer])]
        if frames:
            merged[layer] = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True),
                                             geometry="geom", crs=4490)
        else:
            merged[layer] = next(iter(p[layer] for p in parts), gpd.GeoDataFrame(
                geometry=[], crs=4490).rename_geometry("geom"))
    merged["enterprise_profile"] = enterprise_profile(
        inputs.licenses, merged["complaints_enriched"], merged["licenses_on_farmland"], as_of)
    merged["region_summary"] = region_summary(
        inputs.counties, merged["farmland_base_map"], inputs.licenses,
        merged["licenses_on_farmland"], merged["complaints_enriched"])
    return merged
