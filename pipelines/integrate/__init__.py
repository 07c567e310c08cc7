"""Integration: the views no single department can produce, built per county partition.

`integrate_county` is what a mapped Airflow task runs; `finish` merges the partitions and adds
the views that span counties. `integrate_all` does both in one process (CLI, tests).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd

from pipelines.integrate.farmland import farmland_base_map, farmland_conflicts
from pipelines.integrate.inputs import COUNTY, Inputs, load_inputs
from pipelines.integrate.registers import complaints_enriched, licenses_on_farmland
from pipelines.integrate.summary import enterprise_profile, region_summary

UNLOCATED = "unlocated"  # rows that lie in no county and state none we know
PARTITIONED = ("farmland_base_map", "farmland_conflicts", "licenses_on_farmland",
               "complaints_enriched")
LAYERS = (*PARTITIONED, "enterprise_profile", "region_summary")

__all__ = ["LAYERS", "Inputs", "load_inputs", "partitions", "integrate_county", "finish",
           "integrate_all", "write_partition", "read_partitions"]


def partitions(inputs: Inputs) -> list[str]:
    codes = list(inputs.counties[COUNTY])
    frames = (inputs.farmland_pbf, inputs.farmland_hsf, inputs.licenses, inputs.complaints)
    if any(f[COUNTY].isna().any() for f in frames):
        codes.append(UNLOCATED)
    return codes


def _partition(inputs: Inputs, code: str) -> Inputs:
    if code != UNLOCATED:
        return inputs.county(code)
    parts = {name: getattr(inputs, name)[getattr(inputs, name)[COUNTY].isna()]
             for name in ("farmland_pbf", "farmland_hsf", "licenses", "complaints")}
    return Inputs(counties=inputs.counties.iloc[0:0], **parts)


def integrate_county(inputs: Inputs, code: str, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    part = _partition(inputs, code)
    base = farmland_base_map(part.farmland_pbf, part.farmland_hsf, inputs.counties)
    return {
        "farmland_base_map": base,
        "farmland_conflicts": farmland_conflicts(part.farmland_pbf, part.farmland_hsf, base),
        "licenses_on_farmland": licenses_on_farmland(part.licenses, part.farmland_pbf),
        # registers are matched against all licences: a business may sit in another county
        "complaints_enriched": complaints_enriched(part.complaints, inputs.licenses,
                                                   part.farmland_pbf, as_of),
    }


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


def integrate_all(inputs: Inputs, as_of: datetime) -> dict[str, gpd.GeoDataFrame]:
    return finish(inputs, [integrate_county(inputs, c, as_of) for c in partitions(inputs)], as_of)


def write_partition(folder: Path, code: str, layers: dict[str, gpd.GeoDataFrame]) -> Path:
    """A partition's layers as GeoParquet, written whole then renamed (safe to run twice)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / code
    tmp = folder / f".{code}.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    for name, gdf in layers.items():
        gdf.to_parquet(tmp / f"{name}.parquet", index=False)
    if target.exists():
        import shutil

        shutil.rmtree(target)
    tmp.rename(target)
    return target


def read_partitions(folder: Path) -> list[dict[str, gpd.GeoDataFrame]]:
    return [{p.stem: gpd.read_parquet(p) for p in sorted(d.glob("*.parquet"))}
            for d in sorted(folder.iterdir()) if d.is_dir() and not d.name.startswith(".")]
