"""A partition's share of the inputs (`inputs.shares`: what one county's Airflow task is given
instead of the whole province) builds the same layers as the whole inputs, frame for frame,
for every county, UNLOCATED and every family; with the county-line cases of
test_integrate_partitions.py and points placed by the county they state but lying elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipelines.integrate import FAMILIES, UNLOCATED, Inputs, integrate_part, part_key, partitions
from pipelines.integrate.inputs import COUNTY, geoms_of, holders, locate, shares, strays
from tests.unit.test_integrate_partitions import AS_OF, COUNTIES, A, B, make_inputs


def _more(frame: gpd.GeoDataFrame, columns: dict[str, list[object]],
          geoms: list[object]) -> gpd.GeoDataFrame:
    extra = gpd.GeoDataFrame(pd.DataFrame(columns).reindex(columns=frame.columns.drop("geom")),
                             geometry=geoms, crs=4490).rename_geometry("geom")
    extra[COUNTY] = locate(extra, COUNTIES, stated="xzqdm")
    return gpd.GeoDataFrame(pd.concat([frame, extra], ignore_index=True), geometry="geom",
                            crs=4490)


def tricky_inputs() -> Inputs:
    """make_inputs, and: P6, a parcel outside every county; a licence and a work order that
    state A but lie on P6 (so A's, though nowhere near A's land); a licence on the A-B line
    (within neither: A's by what it states), on P1 and P2."""
    base = make_inputs()
    pbf = _more(base.farmland_pbf, {"yjjbnttbbh": ["P6"], "xzqdm": [B]},
                [box(110.210, 19.500, 110.215, 19.505)])
    lic = _more(base.licenses, {"tyshxydm": ["W", "V"], "ztmc": ["丁公司", "戊公司"],
                                "zzlx": ["食品经营"] * 2, "zzbh": ["L4", "L5"],
                                "yxqz": ["2030-01-01"] * 2, "xzqdm": [A, A]},
                [Point(110.212, 19.502), Point(110.1, 19.5085)])
    g4 = base.complaints.iloc[[0]].assign(gdbh="G4", sjqymc="丁公司", xzqdm=A)
    g4 = g4.set_geometry([Point(110.213, 19.503)], crs=4490)
    g4[COUNTY] = locate(g4, COUNTIES, stated="xzqdm")
    cmp = gpd.GeoDataFrame(pd.concat([base.complaints, g4], ignore_index=True),
                           geometry="geom", crs=4490)
    return replace(base, farmland_pbf=pbf, licenses=lic, complaints=cmp)


def test_the_tricky_points_are_what_they_claim() -> None:
    inputs = tricky_inputs()
    lic = inputs.licenses.set_index("tyshxydm")[COUNTY]
    assert lic["W"] == A and lic["V"] == A  # by what they state
    assert inputs.complaints.set_index("gdbh")[COUNTY]["G4"] == A
    assert partitions(inputs) == [A, B, UNLOCATED]


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("code", [A, B, UNLOCATED])
def test_a_share_builds_what_the_whole_builds(code: str, family: str) -> None:
    whole = tricky_inputs()
    share = shares(whole, [code])[code].with_registers(whole.registers)
    key = part_key(code, family)
    got, want = integrate_part(share, key, AS_OF), integrate_part(whole, key, AS_OF)
    assert sorted(got) == sorted(want)
    for layer in want:
        pd.testing.assert_frame_equal(pd.DataFrame(got[layer]), pd.DataFrame(want[layer]))
    assert sum(len(f) for f in want.values()) > 0 or (code, family) == (UNLOCATED, "licences")


def test_a_share_is_its_county_and_what_reaches_it() -> None:
    whole = tricky_inputs()
    parts = shares(whole, [A, B, UNLOCATED])

    def parcels(code: str) -> set[str]:
        return set(parts[code].farmland_pbf["yjjbnttbbh"])

    assert parcels(A) == {"P1", "P2", "P3", "P6"}  # P6: under W and G4, which A owns
    assert parcels(B) == {"P1", "P2", "P4", "P5", "P6"}  # P6 lies nowhere, states B
    assert parcels(UNLOCATED) == {"P4", "P6"}  # they reach out of every county
    assert set(parts[A].licenses["tyshxydm"]) == {"X", "W", "V"}
    assert set(parts[UNLOCATED].complaints["gdbh"]) == {"G3"}
    for part in parts.values():
        pd.testing.assert_frame_equal(part.counties, whole.counties)  # owners among all


@pytest.mark.parametrize("drop", [(), ("G3",), ("G3", "P4", "P6", "H3")])
def test_unlocated_farmland_tells_the_partitions_as_the_whole_does(drop: tuple[str, ...]) -> None:
    """Publish is given the licences, work orders and UNLOCATED's farmland only."""
    whole = tricky_inputs()
    whole = replace(whole, complaints=whole.complaints[~whole.complaints["gdbh"].isin(drop)],
                    farmland_pbf=whole.farmland_pbf[~whole.farmland_pbf["yjjbnttbbh"].isin(drop)],
                    farmland_hsf=whole.farmland_hsf[~whole.farmland_hsf["xmbh"].isin(drop)])
    nowhere = shares(whole, [UNLOCATED])[UNLOCATED]
    publish = replace(whole, farmland_pbf=nowhere.farmland_pbf,
                      farmland_hsf=nowhere.farmland_hsf)
    assert partitions(publish) == partitions(whole)
    assert (UNLOCATED in partitions(whole)) == (len(drop) < 4)


def test_shares_are_made_one_at_a_time_when_asked_for() -> None:
    """`shares` (and the plan's staged parts) make a share when it is asked for and keep
    none: the plan writing them one by one holds one county's share at a time."""
    from pipelines.integrate.inputs import Lazy

    made: list[str] = []

    def make(key: str) -> str:
        made.append(key)
        return key.upper()

    lazy = Lazy({"a": lambda: make("a"), "b": lambda: make("b")})
    assert list(lazy) == ["a", "b"] and len(lazy) == 2 and made == []
    assert [v for _, v in lazy.items()] == ["A", "B"] and made == ["a", "b"]
    assert lazy["a"] == "A" and made == ["a", "b", "a"]  # made again: never kept
    with pytest.raises(KeyError):
        lazy["c"]


def test_holders_are_the_partitions_whose_share_holds_a_row() -> None:
    """`holders` of any one parcel (one county's parcels sent again: `runner.inputs_cache`
    reads and rebuilds only the holders' shares) are exactly the partitions whose share
    holds it: its owner, the counties it reaches into, UNLOCATED, and the partitions of the
    points outside their county lying on it (P6: A's licence and work order); of a project,
    at least those."""
    inputs = tricky_inputs()
    codes = partitions(inputs)
    every = shares(inputs, codes)
    points = [inputs.licenses, inputs.complaints]
    stray = [strays(f, inputs.counties) for f in points]
    at = np.concatenate([geoms_of(f)[s] for f, s in zip(points, stray, strict=True)])
    of = np.concatenate([f[COUNTY].to_numpy(dtype=object)[s]
                         for f, s in zip(points, stray, strict=True)])
    assert len(at) >= 3  # the licences W, V and the order G4
    seen = set()
    for name in ("farmland_pbf", "farmland_hsf"):
        frame = getattr(inputs, name)
        for i in range(len(frame)):
            held = {c for c in codes if frame.index[i] in getattr(every[c], name).index}
            got = holders(inputs.counties, geoms_of(frame)[[i]],
                          frame[COUNTY].to_numpy(dtype=object)[[i]], at, of)
            assert got == held if name == "farmland_pbf" else got >= held, (name, i, got)
            seen.add(frozenset(got))
    assert {frozenset({A}), frozenset({A, B}), frozenset({A, B, UNLOCATED})} <= seen, seen


def test_without_counties_every_point_is_a_stray() -> None:
    """Before any admin divisions are loaded (a first delivery of licences alone), every
    point lies outside the county it is in, for there is none; a missing point is no stray."""
    inputs = tricky_inputs()
    none = inputs.counties.iloc[:0]
    for frame in (inputs.licenses, inputs.complaints):
        located = frame.assign(**{COUNTY: None})
        present = np.flatnonzero(pd.notna(geoms_of(located)))
        assert strays(located, none).tolist() == present.tolist()
        assert strays(located.iloc[:0], none).tolist() == []
