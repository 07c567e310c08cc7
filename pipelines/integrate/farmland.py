"""The one farmland map: permanent basic farmland (PBF) and high-standard farmland (HSF)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.geodesy import M2_PER_MU, ellipsoidal_area_m2, polygon_area_perimeter
from pipelines.integrate.inputs import COUNTY, Zone, geoms_of
from pipelines.integrate.planar import (
    GeomArray,
    Pairs,
    disjoint_pieces,
    interior_overlaps,
    polygonal,
    union_overlay,
)

BASE_MAP_COLUMNS = ["class", COUNTY, "county_name", "pbf_id", "pbf_ids", "hsf_project",
                    "hsf_projects", "area_m2", "area_mu"]
CONFLICT_COLUMNS = ["conflict_type", COUNTY, "pbf_id", "pbf_id_other", "hsf_project",
                    "stated_county", "area_m2", "area_mu"]


def with_area(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Areas to the square centimetre; a piece that rounds to 0 is floating-point noise
    where two outlines nearly coincide, not land, and is dropped by the callers."""
    gdf = gdf.copy()
    gdf["area_m2"] = ellipsoidal_area_m2(gdf.geometry).round(2)
    gdf["area_mu"] = (gdf["area_m2"] / M2_PER_MU).round(4)
    return gdf


def _frame(columns: dict[str, object], geoms: object, order: list[str]) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(columns, geometry=polygonal(np.asarray(geoms, dtype=object)),
                           crs=4490)
    for c in order:
        if c not in gdf.columns:
            gdf[c] = None
    return gdf[[*order, gdf.geometry.name]].rename_geometry("geom")


def _side(frame: gpd.GeoDataFrame, id_col: str, one: str, many: str,
          overlaps: Pairs | None = None) -> gpd.GeoDataFrame:
    """One layer made disjoint. A piece that several parcels (projects) cover carries the
    lowest id in `one`, a choice every partition makes alike, and all of them, comma-
    separated, in `many`; the area is then counted once, never once per covering id."""
    pieces = disjoint_pieces(frame[id_col].to_numpy(dtype=object), geoms_of(frame), overlaps)
    return gpd.GeoDataFrame({one: [ids[0] for ids in pieces["ids"]],
                             many: [",".join(ids) for ids in pieces["ids"]]},
                            geometry=pieces["geometry"].to_numpy(), crs=4490)


def _take(frame: pd.DataFrame, rows: npt.NDArray[np.intp]) -> pd.DataFrame:
    """Rows of `frame` by position, all-null where the position is -1."""
    out = pd.DataFrame(frame).reset_index(drop=True).reindex(rows)
    return out.reset_index(drop=True).astype(object)


def farmland_base_map(pbf: gpd.GeoDataFrame, hsf: gpd.GeoDataFrame, zone: Zone,
                      county_names: pd.Series,
                      pbf_overlaps: Pairs | None = None) -> gpd.GeoDataFrame:
    """Disjoint pieces of the zone classed by what covers them, cut at county lines.

    `pbf`, `hsf` must hold every row reaching into the zone (`zone.rows`), whichever county
    it was assigned to: a neighbour's parcel overlapping this county's land is part of it.
    `pbf_overlaps`: `interior_overlaps` of `pbf`, shared with `farmland_conflicts` (at 1M
    parcels the test of every touching pair is one of the costliest steps).
    """
    left = _side(pbf, "yjjbnttbbh", "pbf_id", "pbf_ids", pbf_overlaps)
    right = _side(hsf, "xmbh", "hsf_project", "hsf_projects")
    if left.empty and right.empty:
        return _frame({}, [], BASE_MAP_COLUMNS)
    li, ri, geoms = union_overlay(geoms_of(left), geoms_of(right))
    attrs = pd.concat([_take(left.drop(columns="geometry"), li),
                       _take(right.drop(columns="geometry"), ri)], axis=1)
    src, parts, codes = zone.cut(geoms)
    out = attrs.iloc[src].reset_index(drop=True).assign(**{COUNTY: codes})
    out["county_name"] = out[COUNTY].map(county_names)
    has_pbf, has_hsf = out["pbf_id"].notna(), out["hsf_project"].notna()
    out["class"] = np.select([has_pbf & has_hsf, has_pbf], ["pbf_and_hsf", "pbf_only"],
                             "hsf_only")
    base = with_area(_frame(out.to_dict("series"), parts, [c for c in BASE_MAP_COLUMNS
                                                           if not c.startswith("area")]))
    return base[base["area_m2"] > 0][[*BASE_MAP_COLUMNS, "geom"]].reset_index(drop=True)


# Where a project's edge and a parcel's edge are the same field boundary drawn twice (by
# the agriculture bureau's project survey and by natural resources' parcel layer), the
# overlay leaves strips a few decimetres wide along it. Boundaries digitised at 1:10000
# from orthophotos, as parcel layers are, sit within about 1 m (0.1 mm at map scale) of
# the true line, so a strip narrower than that on average is the two drawings disagreeing
# within their precision, not farmland built outside PBF. The base map keeps these strips
# (its areas add up exactly); only the conflict report leaves them out.
SLIVER_WIDTH_M = 1.0


def mean_width_m(geoms: GeomArray) -> npt.NDArray[np.float64]:
    """2 x area / perimeter, geodesic, of each Polygon: the width of a long strip, half that
    of a square."""
    area, perimeter = polygon_area_perimeter(geoms)
    out = np.zeros(len(geoms))
    np.divide(2 * np.abs(area), perimeter, out=out, where=perimeter != 0)
    return out


def without_slivers(geoms: GeomArray) -> GeomArray:
    """Each geometry without its polygons narrower than SLIVER_WIDTH_M; None if none is left."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    keep = mean_width_m(parts) >= SLIVER_WIDTH_M
    out = np.full(len(geoms), None, dtype=object)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=index[keep], out=out)
    return out


def _hsf_outside_pbf(base_map: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    outside = base_map[base_map["class"] == "hsf_only"]
    return _frame({"conflict_type": "hsf_outside_pbf", COUNTY: outside[COUNTY].to_numpy(),
                   "hsf_project": outside["hsf_project"].to_numpy()},
                  without_slivers(geoms_of(outside)), CONFLICT_COLUMNS)


def _pbf_overlaps(pbf: gpd.GeoDataFrame, zone: Zone, pairs: Pairs | None) -> gpd.GeoDataFrame:
    """One row per pair of parcels sharing area, owned by the county where the shared area
    lies, so the pair is reported once even when the parcels sit in different partitions."""
    geoms, ids = geoms_of(pbf), pbf["yjjbnttbbh"].to_numpy(dtype=object)
    i, j = interior_overlaps(geoms) if pairs is None else pairs
    low, high = np.where(ids[i] <= ids[j], i, j), np.where(ids[i] <= ids[j], j, i)
    shared = polygonal(shapely.intersection(geoms[low], geoms[high]))
    mine, codes = zone.owner(shared)
    mine &= pd.notna(shared)
    return _frame({"conflict_type": "pbf_overlap", COUNTY: codes[mine],
                   "pbf_id": ids[low[mine]], "pbf_id_other": ids[high[mine]]},
                  shared[mine], CONFLICT_COLUMNS)


def _county_mismatch(frame: gpd.GeoDataFrame, id_col: str, out_col: str) -> gpd.GeoDataFrame:
    wrong = frame[frame[COUNTY].notna() & (frame["xzqdm"] != frame[COUNTY])]
    return _frame({"conflict_type": "county_mismatch", COUNTY: wrong[COUNTY].to_numpy(),
                   out_col: wrong[id_col].to_numpy(), "stated_county": wrong["xzqdm"].to_numpy()},
                  geoms_of(wrong), CONFLICT_COLUMNS)


def farmland_conflicts(own_pbf: gpd.GeoDataFrame, own_hsf: gpd.GeoDataFrame,
                       zone_pbf: gpd.GeoDataFrame, base_map: gpd.GeoDataFrame,
                       zone: Zone, pbf_overlaps: Pairs | None = None) -> gpd.GeoDataFrame:
    """Where the departments' layers disagree. `own_*` are the partition's rows (a county
    mismatch is a fact about a row), `zone_pbf` every parcel reaching into the zone."""
    parts = [_hsf_outside_pbf(base_map), _pbf_overlaps(zone_pbf, zone, pbf_overlaps),
             _county_mismatch(own_pbf, "yjjbnttbbh", "pbf_id"),
             _county_mismatch(own_hsf, "xmbh", "hsf_project")]
    found = [p for p in parts if len(p)]
    out = pd.concat(found, ignore_index=True) if found else parts[0]
    out = gpd.GeoDataFrame(out, geometry="geom", crs=4490)
    out["area_m2"] = ellipsoidal_area_m2(out.geometry).round(2)
    out["area_mu"] = (out["area_m2"] / M2_PER_MU).round(4)
    return out[out["area_m2"] > 0].reset_index(drop=True)
