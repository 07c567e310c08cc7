"""Partitioned by county (one task per county, then `finish`) equals one unpartitioned run,
with the awkward cases at the county line: parcels across it, an overlap across it, a licence
in one county on a parcel assigned to the other, farmland reaching out of every county.

Counties: A = 110.0-110.1E, B = 110.1-110.2E (19.4-19.6N); nothing east of 110.2E.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import Point, box

from pipelines.geodesy import GEOD, ellipsoidal_area_m2
from pipelines.integrate import (
    LAYERS,
    UNLOCATED,
    Inputs,
    fingerprints,
    finish,
    integrate_county,
    integrate_part,
    integrate_unpartitioned,
    judged_alike,
    partitions,
    still_alike,
)
from pipelines.integrate.inputs import COUNTY, locate

A, B = "469001", "469002"
AS_OF = datetime(2026, 10, 9, 12)
COUNTIES = gpd.GeoDataFrame({COUNTY: [A, B], "county_name": ["甲县", "乙县"]},
                            geometry=[box(110.0, 19.4, 110.1, 19.6), box(110.1, 19.4, 110.2, 19.6)],
                            crs=4490).rename_geometry("geom")


def _frame(columns: dict[str, list[object]], geoms: list[object]) -> gpd.GeoDataFrame:
    gdf = gpd.GeoDataFrame(columns, geometry=geoms, crs=4490).rename_geometry("geom")
    gdf[COUNTY] = locate(gdf, COUNTIES, stated="xzqdm")
    return gdf


def make_inputs() -> Inputs:
    pbf = _frame({"yjjbnttbbh": ["P1", "P2", "P3", "P4", "P5"],
                  "xzqdm": [A, B, A, B, A]}, [
        box(110.090, 19.500, 110.102, 19.510),  # across the line, assigned to A
        box(110.098, 19.505, 110.110, 19.515),  # assigned to B, overlaps P1 across the line
        box(110.050, 19.500, 110.052, 19.502),  # in A, and says so
        box(110.195, 19.500, 110.203, 19.502),  # reaches east out of every county
        box(110.150, 19.550, 110.151, 19.551),  # lies in B but states A
    ])
    hsf = _frame({"xmbh": ["H1", "H1", "H2", "H3"], "xzqdm": [A, A, B, B]}, [
        box(110.095, 19.503, 110.105, 19.507),  # across the line over P1 and P2
        box(110.085, 19.499, 110.097, 19.504),  # a second, overlapping polygon of H1
        box(110.100, 19.506, 110.120, 19.508),  # another project overlapping H1 and P2
        box(110.205, 19.500, 110.210, 19.505),  # outside every county and every parcel
    ])
    lic = _frame({"tyshxydm": ["X", "Y", "Z"], "ztmc": ["甲公司", "乙公司", "丙公司"],
                  "zzlx": ["食品经营"] * 3, "zzbh": ["L1", "L2", "L3"],
                  "yxqz": ["2026-01-01", "2030-01-01", "2030-01-01"], "xzqdm": [A, B, B]}, [
        Point(110.099, 19.512),  # in A, on P2 (assigned to B) only
        Point(110.1005, 19.5085),  # in B, on P1 (assigned to A) and P2: the lowest, P1
        Point(110.202, 19.501),  # outside every county, on P4
    ])
    cmp = _frame({
        "gdbh": ["G1", "G2", "G3"], "slsj": pd.to_datetime(["2026-09-30 15:00"] * 3),
        "gdlx": ["投诉"] * 3, "zbdw": ["农业农村局"] * 3,
        "pdsj": pd.to_datetime(["2026-09-30 16:00"] * 3),
        "sclxsj": pd.to_datetime(["2026-09-30 17:00", None, None]),
        "blyjsj": pd.to_datetime([None] * 3), "bjsj": pd.to_datetime([None] * 3),
        "bljg": [None] * 3, "myd": ["满意", None, "不满意"], "sjqymc": ["乙公司", None, None],
        "sjqyxydm": [None, "X", None], "ldrdh_token": ["ab" * 32] * 3,
        "ldrdh_masked": ["138****0000"] * 3, "xzqdm": [A, B, "999999"]},
        [Point(110.1005, 19.5085), None, None])
    return Inputs(COUNTIES, pbf, hsf, lic, cmp)


def canonical(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Rows in a stable order with their geodesic area, for comparing two runs."""
    df = pd.DataFrame(gdf.drop(columns="geom")).astype(object)
    df = df.where(pd.notna(df), None)
    df["_area"] = ellipsoidal_area_m2(gdf.geometry) if len(gdf) else []
    df["_wkt"] = [None if g is None else shapely.to_wkt(shapely.normalize(g), 6)
                  for g in gdf.geometry]
    keys = [c for c in df.columns if c != "_area"]
    return df.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)


@pytest.fixture(scope="module")
def both() -> tuple[dict[str, gpd.GeoDataFrame], dict[str, gpd.GeoDataFrame]]:
    inputs = make_inputs()
    # every partition in turn, as the mapped Airflow tasks build them, then finished
    parts = [integrate_county(inputs, c, AS_OF) for c in partitions(inputs)]
    return finish(inputs, parts, AS_OF), integrate_unpartitioned(inputs, AS_OF)


# (county_assessment is added at publish, from the warehouse's ledger: tests/unit/test_assessment.py)
@pytest.mark.parametrize("layer", [name for name in LAYERS if name != "county_assessment"])
def test_partitioned_equals_unpartitioned(
        both: tuple[dict[str, gpd.GeoDataFrame], dict[str, gpd.GeoDataFrame]],
        layer: str) -> None:
    parted, whole = (canonical(run[layer]) for run in both)
    assert len(parted) == len(whole) > 0
    pd.testing.assert_frame_equal(parted.drop(columns="_area"), whole.drop(columns="_area"),
                                  check_dtype=False)
    assert np.allclose(parted["_area"].fillna(0), whole["_area"].fillna(0), rtol=0, atol=1e-6)
    assert both[0][layer].crs.to_epsg() == 4490 and both[0][layer].geometry.name == "geom"


def test_partitions_include_the_land_outside_every_county() -> None:
    assert partitions(make_inputs()) == [A, B, UNLOCATED]


def geod_m2(shape: shapely.Geometry) -> float:
    return 0.0 if shape.is_empty else abs(GEOD.geometry_area_perimeter(shape)[0])


def test_pieces_add_up_to_the_true_overlay_per_county(
        both: tuple[dict[str, gpd.GeoDataFrame], dict[str, gpd.GeoDataFrame]]) -> None:
    inputs = make_inputs()
    pbf = shapely.union_all(inputs.farmland_pbf.geometry.to_numpy())
    hsf = shapely.union_all(inputs.farmland_hsf.geometry.to_numpy())
    region = shapely.union_all(COUNTIES.geometry.to_numpy())
    zones = {**dict(zip(COUNTIES[COUNTY], COUNTIES.geometry, strict=True)),
             None: box(109, 18, 112, 21).difference(region)}
    base = both[0]["farmland_base_map"]
    for code, zone in zones.items():
        mine = base[base[COUNTY].isna()] if code is None else base[base[COUNTY] == code]
        got = mine.groupby("class")["area_m2"].sum()
        for cls, truth in (("pbf_and_hsf", pbf.intersection(hsf)),
                           ("pbf_only", pbf.difference(hsf)), ("hsf_only", hsf.difference(pbf))):
            # Geod joins vertices by geodesics, so a vertex added where a piece is cut along
            # a kilometre-long edge moves the area by ~4 m2 per km: 1e-5 of these pieces
            assert got.get(cls, 0.0) == pytest.approx(geod_m2(truth.intersection(zone)),
                                                      rel=1e-5, abs=0.01), (code, cls)


def test_county_line_cases(
        both: tuple[dict[str, gpd.GeoDataFrame], dict[str, gpd.GeoDataFrame]]) -> None:
    layers = both[0]
    overlaps = layers["farmland_conflicts"].query("conflict_type == 'pbf_overlap'")
    assert overlaps[["pbf_id", "pbf_id_other"]].values.tolist() == [["P1", "P2"]]
    assert overlaps["area_m2"].iloc[0] == pytest.approx(
        geod_m2(box(110.098, 19.505, 110.102, 19.510)), abs=0.01)
    mismatch = layers["farmland_conflicts"].query("conflict_type == 'county_mismatch'")
    assert mismatch[["pbf_id", COUNTY, "stated_county"]].values.tolist() == [["P5", B, A]]
    on = layers["licenses_on_farmland"].set_index("uscc")
    assert on["pbf_id"].to_dict() == {"X": "P2", "Y": "P1", "Z": "P4"}
    assert on[COUNTY].to_dict() == {"X": A, "Y": B, "Z": B}  # Z states B, lies in no county
    cmp = layers["complaints_enriched"].set_index("order_id").astype(object)
    cmp = cmp.where(cmp.notna(), None)
    assert cmp[COUNTY].to_dict() == {"G1": B, "G2": B, "G3": None}
    assert cmp["uscc"].to_dict() == {"G1": "Y", "G2": "X", "G3": None}
    assert cmp["on_pbf"].to_dict() == {"G1": True, "G2": False, "G3": False}


def test_one_partition_alone_sees_its_neighbours_parcels() -> None:
    inputs = make_inputs()
    part_a = integrate_county(inputs, A, AS_OF)
    base = part_a["farmland_base_map"]
    assert set(base[COUNTY]) == {A}
    assert "P2" in set(base["pbf_id"])  # P2 is B's parcel, but part of it is A's land
    merged = finish(inputs, [integrate_county(inputs, c, AS_OF) for c in (A, B, UNLOCATED)],
                    AS_OF)
    assert merged["farmland_base_map"]["area_m2"].sum() == pytest.approx(
        integrate_unpartitioned(inputs, AS_OF)["farmland_base_map"]["area_m2"].sum(), abs=1e-6)


def test_points_are_fingerprinted_with_the_parcels_they_may_lie_on() -> None:
    inputs = make_inputs()
    # a licence out of every county that states A, on P4 (a parcel of B's zone, not A's)
    stray = _frame({"tyshxydm": ["W"], "ztmc": ["丁公司"], "zzlx": ["食品经营"], "zzbh": ["L4"],
                    "yxqz": ["2030-01-01"], "xzqdm": [A]}, [Point(110.2025, 19.5015)])
    base = replace(inputs, licenses=pd.concat([inputs.licenses, stray], ignore_index=True))
    codes = partitions(base)
    before = fingerprints(base, codes)
    for code in codes:  # the zone's rows, by position, as fingerprints read them
        for frame in (base.farmland_pbf, base.farmland_hsf):
            rows = base.zone([code]).rows(frame)
            assert list(base.zone([code]).positions(frame)) == list(
                frame.index.get_indexer(rows.index))

    def rebuilt(without: str) -> set[str]:
        pbf = base.farmland_pbf[base.farmland_pbf["yjjbnttbbh"] != without]
        after = fingerprints(replace(base, farmland_pbf=pbf), codes)
        return {k for k in before if before[k] != after[k] and not k.endswith("/farmland")}

    # P5 lies in B only: A's points cannot be on it, whatever county it states
    assert rebuilt("P5") == {f"{B}/licences", f"{B}/complaints"}
    # P3 lies in A: B's and the unlocated points cannot be on it
    assert rebuilt("P3") == {f"{A}/licences", f"{A}/complaints"}
    # P4 reaches into B and out of every county, and A's stray licence lies on it
    assert rebuilt("P4") == {f"{A}/licences", f"{B}/licences", f"{B}/complaints",
                             f"{UNLOCATED}/licences", f"{UNLOCATED}/complaints"}
    without_p4 = replace(base, farmland_pbf=base.farmland_pbf.iloc[[0, 1, 2, 4]])
    assert len(integrate_part(base, f"{A}/licences", AS_OF)["licenses_on_farmland"]) == 2
    assert len(integrate_part(without_p4, f"{A}/licences", AS_OF)["licenses_on_farmland"]) == 1


def test_work_orders_judged_alike_until_an_open_order_falls_due() -> None:
    # every order dispatched Wed 30 Sep 16:00 and still open but for G1's contact: the
    # proposal fell due Thu 8 Oct 16:00, the solution falls due Tue 27 Oct 16:00
    inputs = make_inputs()
    judged = judged_alike(inputs, partitions(inputs), AS_OF)
    due = ("2026-10-08T16:00:00", "2026-10-27T16:00:00")
    assert judged == {f"{A}/complaints": ("", ""), f"{B}/complaints": due,
                      f"{UNLOCATED}/complaints": due}
    assert still_alike(due, datetime(2026, 10, 27, 16)) and still_alike(("", ""), AS_OF)
    assert not still_alike(due, datetime(2026, 10, 27, 16, 0, 0, 1))
    assert not still_alike(due, datetime(2026, 10, 8, 16))  # a replay at the deadline
    later = finish(inputs, [integrate_county(inputs, c, datetime(2026, 10, 27, 16))
                            for c in partitions(inputs)], AS_OF)["complaints_enriched"]
    now = finish(inputs, [integrate_county(inputs, c, AS_OF) for c in partitions(inputs)],
                 AS_OF)["complaints_enriched"]
    assert canonical(later).equals(canonical(now))


def test_work_orders_read_licences_only_through_their_register() -> None:
    inputs = make_inputs()
    codes = partitions(inputs)
    before = fingerprints(inputs, codes)

    def rebuilt(**changed: list[object]) -> set[str]:
        after = fingerprints(replace(inputs, licenses=inputs.licenses.assign(**changed)), codes)
        return {k for k in before if before[k] != after[k]}

    # new licence numbers and expiry dates: the licences (all in A and B), but no work
    # order, read again
    assert rebuilt(zzbh=["L7", "L8", "L9"], yxqz=["2031-01-01"] * 3) == {
        f"{A}/licences", f"{B}/licences"}
    # a business renamed: every county's work orders may name it
    assert {f"{c}/complaints" for c in codes} <= rebuilt(ztmc=["甲公司", "乙公司（新）", "丙公司"])
