"""The farmland base map and its conflicts on small exact geometries, against areas computed
by hand: the expected shapes are written out and measured with pyproj's Geod on CGCS2000.

Two counties side by side near 110E 19.5N: A = 110.0-110.1E, B = 110.1-110.2E, both
19.4-19.6N. Squares of 0.001 degree are about 105 m x 111 m.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Polygon, box

from pipelines.geodesy import GEOD, M2_PER_MU
from pipelines.integrate.farmland import farmland_base_map, farmland_conflicts
from pipelines.integrate.inputs import COUNTY, UNLOCATED, Inputs, locate
from pipelines.integrate.planar import INTERIORS_SHARE_AREA

A, B = "469001", "469002"
COUNTIES = gpd.GeoDataFrame({COUNTY: [A, B], "county_name": ["甲县", "乙县"]},
                            geometry=[box(110.0, 19.4, 110.1, 19.6), box(110.1, 19.4, 110.2, 19.6)],
                            crs=4490).rename_geometry("geom")


def geod_m2(shape: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(shape)[0])


def sq(x: float, y: float, size: float = 0.001) -> Polygon:
    """A square of `size` degrees with its south-west corner at 110+x E, 19.5+y N."""
    return box(110 + x, 19.5 + y, 110 + x + size, 19.5 + y + size)


def pbf(*shapes: shapely.Geometry, ids: list[str] | None = None,
        stated: list[str] | None = None) -> gpd.GeoDataFrame:
    ids = ids or [f"P{i + 1}" for i in range(len(shapes))]
    return _located(gpd.GeoDataFrame({"yjjbnttbbh": ids, "xzqdm": stated or [A] * len(shapes)},
                                     geometry=list(shapes), crs=4490))


def hsf(*shapes: shapely.Geometry, ids: list[str] | None = None) -> gpd.GeoDataFrame:
    ids = ids or [f"H{i + 1}" for i in range(len(shapes))]
    return _located(gpd.GeoDataFrame({"xmbh": ids, "xzqdm": [A] * len(shapes)},
                                     geometry=list(shapes), crs=4490))


def _located(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf.rename_geometry("geom")
    gdf[COUNTY] = locate(gdf, COUNTIES, stated="xzqdm")
    return gdf


def empty_points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({COUNTY: []}, geometry=[], crs=4490).rename_geometry("geom")


def layers(p: gpd.GeoDataFrame, h: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    inputs = Inputs(COUNTIES, p, h, empty_points(), empty_points())
    zone = inputs.whole()
    names = COUNTIES.set_index(COUNTY)["county_name"]
    base = farmland_base_map(zone.rows(p), zone.rows(h), zone, names)
    return base, farmland_conflicts(p, h, zone.rows(p), base, zone)


def class_areas(base: gpd.GeoDataFrame) -> dict[str, float]:
    return {k: float(v) for k, v in base.groupby("class")["area_m2"].sum().items()}


def assert_disjoint(base: gpd.GeoDataFrame) -> None:
    geoms = base.geometry.to_numpy()
    for i in range(len(geoms)):
        for j in range(i + 1, len(geoms)):
            assert not geoms[i].relate_pattern(geoms[j], INTERIORS_SHARE_AREA), (i, j)


HALF = box(110.0105, 19.501, 110.011, 19.502)  # east half of sq(0.01, 0.001)
CASES = {
    # a parcel half covered by a project that reaches 0.001 degree further east
    "half_covered": ([sq(0.01, 0.001)], [box(110.0105, 19.501, 110.012, 19.502)],
                     {"pbf_and_hsf": HALF, "pbf_only": box(110.01, 19.501, 110.0105, 19.502),
                      "hsf_only": box(110.011, 19.501, 110.012, 19.502)}),
    # a project inside a parcel: the parcel-only piece has a hole
    "project_inside": ([sq(0.01, 0.001)], [HALF.buffer(-0.0001, join_style="mitre")],
                       {"pbf_and_hsf": HALF.buffer(-0.0001, join_style="mitre"),
                        "pbf_only": Polygon(sq(0.01, 0.001).exterior.coords,
                                            [HALF.buffer(-0.0001, join_style="mitre")
                                             .exterior.coords])}),
    "same_outline": ([sq(0.01, 0.001)], [sq(0.01, 0.001)], {"pbf_and_hsf": sq(0.01, 0.001)}),
    "apart": ([sq(0.01, 0.001)], [sq(0.02, 0.001)],
              {"pbf_only": sq(0.01, 0.001), "hsf_only": sq(0.02, 0.001)}),
    # the only-touching edge is no overlap and leaves no zero-area piece behind
    "touching": ([box(110.01, 19.501, 110.011, 19.502)], [box(110.011, 19.501, 110.012, 19.502)],
                 {"pbf_only": sq(0.01, 0.001), "hsf_only": sq(0.011, 0.001)}),
    # outlines a rounding error apart (110 + 0.01 + 0.001 > 110.011): a 1e-4 m2 sliver is
    # noise, not farmland both departments claim
    "hairline": ([sq(0.01, 0.001)], [box(110.011, 19.501, 110.012, 19.502)],
                 {"pbf_only": sq(0.01, 0.001), "hsf_only": sq(0.011, 0.001)}),
}


@pytest.mark.parametrize("case", CASES)
def test_base_map_class_areas(case: str) -> None:
    parcels, projects, expected = CASES[case]
    base, conflicts = layers(pbf(*parcels), hsf(*projects))
    assert class_areas(base) == pytest.approx({k: geod_m2(v) for k, v in expected.items()},
                                              abs=0.01)
    assert (base["area_mu"] - base["area_m2"] / M2_PER_MU).abs().max() < 1e-4
    assert set(base[COUNTY]) == {A} and set(base["county_name"]) == {"甲县"}
    assert base.crs.to_epsg() == 4490 and base.geometry.name == "geom"
    assert set(base.geom_type) == {"MultiPolygon"}
    assert_disjoint(base)
    assert base.loc[base["class"] == "pbf_only", "hsf_project"].isna().all()
    assert base.loc[base["class"] == "hsf_only", "pbf_id"].isna().all()
    outside = conflicts[conflicts["conflict_type"] == "hsf_outside_pbf"]
    assert outside["area_m2"].sum() == pytest.approx(geod_m2(expected["hsf_only"])
                                                     if "hsf_only" in expected else 0, abs=0.01)


L_SHAPE = Polygon([(110.010, 19.501), (110.011, 19.501), (110.011, 19.5015), (110.0115, 19.5015),
                   (110.0115, 19.5025), (110.0105, 19.5025), (110.0105, 19.502),
                   (110.010, 19.502)])
OVERLAPS = {
    # parcel P2 shifted half a square north-east over P1: one quarter of P1 is shared
    "pair": ([sq(0.01, 0.001), sq(0.0105, 0.0015)], L_SHAPE,
             [("P1", "P2", box(110.0105, 19.5015, 110.011, 19.502))]),
    # P2 wholly inside P1 (a copied parcel drawn smaller): covered twice, counted once
    "nested": ([sq(0.01, 0.001), HALF], sq(0.01, 0.001), [("P1", "P2", HALF)]),
    # the same outline delivered under two numbers
    "duplicate": ([sq(0.01, 0.001), sq(0.01, 0.001)], sq(0.01, 0.001),
                  [("P1", "P2", sq(0.01, 0.001))]),
}


@pytest.mark.parametrize("case", OVERLAPS)
def test_overlapping_parcels_are_counted_once(case: str) -> None:
    parcels, union, pairs = OVERLAPS[case]
    base, conflicts = layers(pbf(*parcels), hsf())
    assert_disjoint(base)
    assert class_areas(base) == pytest.approx({"pbf_only": geod_m2(union)}, abs=0.01)
    overlap = conflicts[conflicts["conflict_type"] == "pbf_overlap"]
    got = sorted(zip(overlap["pbf_id"], overlap["pbf_id_other"], overlap["area_m2"],
                     strict=True))
    assert got == [(a, b, pytest.approx(geod_m2(shape), abs=0.01)) for a, b, shape in pairs]
    shared = base[base["pbf_ids"].str.contains(",")]
    # the piece both cover carries the lowest number and lists both
    assert list(shared["pbf_id"]) == ["P1"] and list(shared["pbf_ids"]) == ["P1,P2"]
    assert shared["area_m2"].sum() == pytest.approx(geod_m2(pairs[0][2]), abs=0.01)


def test_overlapping_projects_are_counted_once() -> None:
    # project H1 of two overlapping polygons, project H2 overlapping H1, all over one parcel
    projects = hsf(sq(0.01, 0.001), sq(0.0105, 0.001), sq(0.0105, 0.0015),
                   ids=["H1", "H1", "H2"])
    base, _ = layers(pbf(sq(0.01, 0.001)), projects)
    assert_disjoint(base)
    union = shapely.union_all([sq(0.01, 0.001), sq(0.0105, 0.001), sq(0.0105, 0.0015)])
    areas = class_areas(base)
    assert areas["pbf_and_hsf"] == pytest.approx(geod_m2(sq(0.01, 0.001)), abs=0.01)
    assert areas["hsf_only"] == pytest.approx(geod_m2(union.difference(sq(0.01, 0.001))),
                                              abs=0.01)
    assert set(base["hsf_projects"]) == {"H1", "H1,H2", "H2"}  # H2 reaches north of H1


def test_parcel_stating_the_wrong_county() -> None:
    parcels = pbf(sq(0.01, 0.001), sq(0.15, 0.001), stated=[B, B])  # P1 lies in A
    _, conflicts = layers(parcels, hsf())
    wrong = conflicts[conflicts["conflict_type"] == "county_mismatch"]
    assert wrong[["pbf_id", COUNTY, "stated_county"]].values.tolist() == [["P1", A, B]]
    assert wrong["area_m2"].iloc[0] == pytest.approx(geod_m2(sq(0.01, 0.001)), abs=0.01)


def test_project_outside_all_farmland() -> None:
    _, conflicts = layers(pbf(sq(0.01, 0.001)), hsf(sq(0.03, 0.001, 0.002)))
    outside = conflicts[conflicts["conflict_type"] == "hsf_outside_pbf"]
    assert outside[["hsf_project", COUNTY]].values.tolist() == [["H1", A]]
    assert outside["area_m2"].iloc[0] == pytest.approx(geod_m2(sq(0.03, 0.001, 0.002)),
                                                       abs=0.01)
    assert outside["area_mu"].iloc[0] == pytest.approx(outside["area_m2"].iloc[0] / M2_PER_MU,
                                                       abs=1e-4)


def test_pieces_are_cut_at_county_lines_and_at_the_region_edge() -> None:
    # a parcel across the A|B line, and one reaching east out of every county
    across, beyond = box(110.099, 19.5, 110.101, 19.501), box(110.199, 19.5, 110.201, 19.501)
    base, _ = layers(pbf(across, beyond), hsf())
    by_county = base.groupby(base[COUNTY].fillna(UNLOCATED))["area_m2"].sum().to_dict()
    assert by_county == pytest.approx({
        A: geod_m2(box(110.099, 19.5, 110.1, 19.501)),
        B: geod_m2(box(110.1, 19.5, 110.101, 19.501)) + geod_m2(box(110.199, 19.5, 110.2, 19.501)),
        UNLOCATED: geod_m2(box(110.2, 19.5, 110.201, 19.501))}, abs=0.01)
    assert base.loc[base[COUNTY].isna(), "county_name"].isna().all()
    assert pd.Series(base["pbf_id"]).value_counts().to_dict() == {"P1": 2, "P2": 2}


DECIMETRE = 0.1 / 105_000  # degrees of longitude at 19.5N


@pytest.mark.parametrize(("offset_m", "reported"), [(0.3, False), (0.9, False), (1.2, True),
                                                    (5.0, True)])
def test_hsf_outside_pbf_leaves_out_slivers_narrower_than_survey_precision(
        offset_m: float, reported: bool) -> None:
    # The project redraws the parcel's field, its east edge `offset_m` further east.
    shift = offset_m * 10 * DECIMETRE
    project = box(110.010, 19.501, 110.011 + shift, 19.502)
    base, conflicts = layers(pbf(sq(0.01, 0.001)), hsf(project))
    strip = box(110.011, 19.501, 110.011 + shift, 19.502)
    # the base map keeps the strip: its areas still add up to the whole overlay
    assert class_areas(base)["hsf_only"] == pytest.approx(geod_m2(strip), abs=0.01)
    outside = conflicts[conflicts["conflict_type"] == "hsf_outside_pbf"]
    assert len(outside) == int(reported)
    if reported:
        assert outside["area_m2"].iloc[0] == pytest.approx(geod_m2(strip), abs=0.01)


def test_a_sliver_part_is_dropped_and_the_real_part_kept() -> None:
    # one project piece of two parts: a 0.3 m strip along the parcel's east edge, and a
    # 50 m x 111 m block out in the field beyond a gap
    strip = box(110.011, 19.501, 110.011 + 3 * DECIMETRE, 19.502)
    block = box(110.0115, 19.501, 110.012, 19.502)
    project = shapely.union(box(110.010, 19.501, 110.011 + 3 * DECIMETRE, 19.502), block)
    _, conflicts = layers(pbf(sq(0.01, 0.001)), hsf(project))
    outside = conflicts[conflicts["conflict_type"] == "hsf_outside_pbf"]
    assert len(outside) == 1
    assert outside["area_m2"].iloc[0] == pytest.approx(geod_m2(block), abs=0.01)
    assert geod_m2(strip) > 30  # the strip is not small: it is narrow


def test_union_overlay_matches_geopandas_overlay() -> None:
    """The vectorised overlay gives geopandas' union overlay: the same (parcel, project)
    pieces with the same areas, on jittered parcels and projects cutting across them."""
    from pipelines.integrate.planar import disjoint_pieces, union_overlay

    rng = np.random.default_rng(3)
    cells = [box(110 + i * 0.001, 19.5 + j * 0.001, 110 + (i + 1) * 0.001, 19.5 + (j + 1) * 0.001)
             for i in range(12) for j in range(12) if rng.random() > 0.1]
    x0, y0 = rng.uniform(110, 110.011, 40), rng.uniform(19.5, 19.511, 40)
    projects = shapely.box(x0, y0, x0 + rng.uniform(0.001, 0.004, 40),
                           y0 + rng.uniform(0.001, 0.003, 40))
    ids = np.array([f"H{k:02d}" for k in range(len(projects))], dtype=object)
    right = disjoint_pieces(ids, projects)  # overlapping projects made disjoint first
    left = np.array(cells, dtype=object)
    rgeoms = right["geometry"].to_numpy()
    li, ri, pieces = union_overlay(left, rgeoms)
    ours = pd.DataFrame({"l": li, "r": ri, "area": shapely.area(pieces)})
    frame = gpd.GeoDataFrame({"l": np.arange(len(left))}, geometry=list(left), crs=4490)
    other = gpd.GeoDataFrame({"r": np.arange(len(rgeoms))}, geometry=list(rgeoms), crs=4490)
    theirs = gpd.overlay(frame, other, how="union", keep_geom_type=True)
    theirs = pd.DataFrame({"l": theirs["l"].fillna(-1).astype(int),
                           "r": theirs["r"].fillna(-1).astype(int),
                           "area": shapely.area(theirs.geometry.to_numpy())})
    ours = ours[ours["area"] > 1e-14].groupby(["l", "r"])["area"].sum()
    theirs = theirs[theirs["area"] > 1e-14].groupby(["l", "r"])["area"].sum()
    assert list(ours.index) == list(theirs.index)
    assert np.allclose(ours.to_numpy(), theirs.to_numpy(), rtol=0, atol=1e-12)
    assert (ri >= 0).sum() > 50 and (li >= 0).sum() > 100  # the case is not trivial
