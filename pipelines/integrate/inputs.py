"""The current core data the integration reads, and its split into county partitions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, TypeVar

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.contracts import Contract, Role, with_role
from pipelines.integrate.planar import GeomArray, elementwise, polygonal, query
from pipelines.warehouse import Warehouse
from pipelines.warehouse.columns import core_columns
from pipelines.warehouse.counties import COUNTY as COUNTY  # the partition key, re-exported
from pipelines.warehouse.counties import current_counties

if TYPE_CHECKING:
    from pipelines.integrate.registers import Registers

T = TypeVar("T")
UNLOCATED = "unlocated"  # the partition of rows in no county, and of land outside every county
Codes = npt.NDArray[np.object_]


def geoms_of(frame: gpd.GeoDataFrame) -> GeomArray:
    return np.asarray(frame.geometry.array, dtype=object)


@dataclass(frozen=True)
class Zone:
    """The land a partition answers for: some counties' polygons, and (when `outside`) the
    land outside every county. Pieces are cut at county lines and each belongs to the one
    county it lies in, so partitions never count the same square metre twice."""

    counties: gpd.GeoDataFrame  # all counties: who owns a point is decided among all of them
    codes: frozenset[str]  # the counties of this zone
    outside: bool  # the land outside every county belongs to this zone

    @cached_property
    def _own(self) -> gpd.GeoDataFrame:
        return self.counties[self.counties[COUNTY].isin(self.codes)]

    @cached_property
    def _region(self) -> shapely.Geometry:
        region = shapely.union_all(geoms_of(self.counties))
        shapely.prepare(region)
        return region

    def rows(self, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """Rows of `frame` that reach into this zone, whichever partition they belong to."""
        take = np.zeros(len(frame), dtype=bool)
        if len(self._own) and len(frame):
            _, hit = frame.sindex.query(geoms_of(self._own), predicate="intersects")
            take[hit] = True
        if self.outside:
            geoms = geoms_of(frame)
            take |= pd.notna(geoms) & ~shapely.covers(self._region, geoms)
        return frame[take]

    def cut(self, geoms: GeomArray) -> tuple[npt.NDArray[np.intp], GeomArray, Codes]:
        """(source index, polygonal part, county code or None) of the geoms within the zone."""
        county_geoms = geoms_of(self._own)
        shapely.prepare(county_geoms)
        src, c = query(shapely.STRtree(county_geoms), geoms, predicate="intersects")
        parts = geoms[src].copy()
        # (one thread: the counties are prepared, and GEOS fills a prepared geometry's
        # indexes on first use, which threads must not share)
        crossing = ~shapely.covers(county_geoms[c], geoms[src])
        parts[crossing] = polygonal(elementwise(shapely.intersection, geoms[src][crossing],
                                                county_geoms[c][crossing]))
        codes = self._own[COUNTY].to_numpy(dtype=object)[c]
        if self.outside:
            out = np.flatnonzero(pd.notna(geoms) & ~shapely.covers(self._region, geoms))
            src = np.concatenate([src, out])
            parts = np.concatenate([parts, polygonal(shapely.difference(geoms[out],
                                                                        self._region))])
            codes = np.concatenate([codes, np.full(len(out), None, dtype=object)])
        kept = pd.notna(parts)
        return src[kept].astype(np.intp), parts[kept], codes[kept]

    def positions(self, frame: gpd.GeoDataFrame) -> npt.NDArray[np.intp]:
        """Positions in `frame` of its `rows`, in order, without copying them out."""
        found = [np.zeros(0, dtype=np.intp)]
        if len(self._own) and len(frame):
            found.append(frame.sindex.query(geoms_of(self._own), predicate="intersects")[1])
        if self.outside:
            geoms = geoms_of(frame)
            found.append(np.flatnonzero(pd.notna(geoms) & ~shapely.covers(self._region, geoms)))
        return np.unique(np.concatenate(found)).astype(np.intp)

    def holds(self, geoms: GeomArray) -> npt.NDArray[np.bool_]:
        """Whether each geometry lies on this zone's land: covered by one of its counties
        (edge included), or, when `outside`, clear of every county. A parcel that touches
        a point held by the zone is one of the zone's `rows`."""
        held = np.zeros(len(geoms), dtype=bool)
        for county in geoms_of(self._own):
            shapely.prepare(county)
            held |= shapely.covers(county, geoms)
        if self.outside:
            held |= pd.notna(geoms) & ~shapely.intersects(self._region, geoms)
        return held

    def owner(self, geoms: GeomArray) -> tuple[npt.NDArray[np.bool_], Codes]:
        """(in this zone, county) of each geometry by a point on it: among all counties the
        lowest code that covers the point, so a point on a county line has one owner."""
        codes = np.full(len(geoms), None, dtype=object)
        if len(geoms) and len(self.counties):
            pts = shapely.point_on_surface(geoms)
            p, c = shapely.STRtree(geoms_of(self.counties)).query(pts, predicate="intersects")
            first = (pd.DataFrame({"p": p, "code": self.counties[COUNTY].to_numpy()[c]})
                     .groupby("p")["code"].min())
            codes[first.index.to_numpy()] = first.to_numpy()
        mine = np.asarray(pd.Series(codes).isin(self.codes), dtype=bool).copy()
        if self.outside:
            mine |= pd.isna(codes)
        return mine, codes


@dataclass(frozen=True)
class Inputs:
    counties: gpd.GeoDataFrame  # county_code, county_name, geom
    farmland_pbf: gpd.GeoDataFrame
    farmland_hsf: gpd.GeoDataFrame
    licenses: gpd.GeoDataFrame
    complaints: gpd.GeoDataFrame

    @cached_property
    def registers(self) -> Registers:
        """The licence register matched against, made once for every partition of a run."""
        from pipelines.integrate.registers import Registers

        return Registers.of(self.licenses)

    def with_registers(self, registers: Registers) -> Inputs:
        """These inputs matching work orders against `registers`: the run's whole register,
        when these are one partition's share of the run's inputs (`shares`)."""
        self.__dict__["registers"] = registers  # where `registers` keeps what it made
        return self

    def county(self, code: str) -> Inputs:
        """The rows of one partition: located there (or, unlocated, stated there)."""
        return replace(self, **{f.name: self.own(f.name, code) for f in fields(self)
                                if f.name != "counties"})

    def own(self, name: str, code: str) -> gpd.GeoDataFrame:
        """The rows of frame `name` that partition `code` owns (see `county`)."""
        frame: gpd.GeoDataFrame = getattr(self, name)
        return frame.iloc[self.own_positions(name, code)]

    def own_positions(self, name: str, code: str) -> npt.NDArray[np.intp]:
        """Where in frame `name` the rows partition `code` owns are, in row order."""
        return np.asarray(self.positions(name).get(code, np.zeros(0, dtype=np.intp)),
                          dtype=np.intp)

    def positions(self, name: str) -> dict[str, npt.NDArray[np.intp]]:
        """Positions of frame `name`'s rows by the partition owning them (UNLOCATED: those
        in none), in row order; grouped once per frame (a province's county builds each
        picked their orders out of a million, twice, 2.7 s a run)."""
        def grouped() -> dict[str, npt.NDArray[np.intp]]:
            located = getattr(self, name)[COUNTY].fillna(UNLOCATED).to_numpy(dtype=object)
            found: dict[str, npt.NDArray[np.intp]] = pd.Series(
                np.arange(len(located))).groupby(located).indices if len(located) else {}
            return found

        return self.memo(f"positions of {name}", grouped)

    def memo(self, key: str, make: Callable[[], T]) -> T:
        """`make()`, made once for these inputs (their frames are never changed once they
        are inputs; `replace` makes new inputs, with nothing made yet)."""
        known: dict[str, Any] = self.__dict__.setdefault("_memo", {})
        if key not in known:
            known[key] = make()
        value: T = known[key]
        return value

    def zone(self, codes: Iterable[str]) -> Zone:
        """The land of these partitions (county codes, and/or UNLOCATED)."""
        wanted = set(codes)
        return Zone(self.counties, frozenset(wanted - {UNLOCATED}), UNLOCATED in wanted)

    def whole(self) -> Zone:
        return self.zone([*self.counties[COUNTY], UNLOCATED])

    def needs_unlocated(self) -> bool:
        """Whether some row lies in no county, or some farmland reaches outside every one."""
        frames = (self.farmland_pbf, self.farmland_hsf, self.licenses, self.complaints)
        if any(f[COUNTY].isna().any() for f in frames):
            return True
        outside = self.zone([UNLOCATED])
        return any(len(outside.rows(f)) for f in (self.farmland_pbf, self.farmland_hsf))


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


# The Inputs frame each integration role fills.
INPUT_ROLES: dict[str, Role] = {"farmland_pbf": "protected_farmland",
                                "farmland_hsf": "farmland_projects", "licenses": "licences",
                                "complaints": "work_orders"}


# What the integration reads of each frame's rows, besides the geometry, the row's identity
# (`ROW_IDENTITY`) and the county it states: the columns the layers and views are made of
# (`registers`, `farmland`, `summary`, `assessment`). Only these are read from core: a
# province's licences and work orders also carry 经营范围, 住所, 诉求内容, 诉求地址 and the
# tokens of names and ID numbers, which no layer shows, and reading them held more memory
# than the rest of the inputs together.
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "farmland_pbf": ("yjjbnttbbh",),
    "farmland_hsf": ("xmbh",),
    "licenses": ("tyshxydm", "ztmc", "zzlx", "zzbh", "yxqq", "yxqz"),
    "complaints": ("gdbh", "slsj", "gdlx", "zbdw", "pdsj", "sclxsj", "blyjsj", "bjsj", "bljg",
                   "myd", "sjqymc", "sjqyxydm", "ldrdh_token", "ldrdh_masked"),
}
# What only enriching a work order reads of it (`registers.complaints_enriched`; "geom" its
# point, also what locates it and finds its parcels): a run that takes over the enriched rows
# of the orders it located before (never enriched again when read in part, `PARCELS_READ`)
# reads these of its new orders only (`Warehouse.read_current_versions`' `sparse`).
ENRICHING_ONLY: dict[str, tuple[str, ...]] = {
    "complaints": ("gdbh", "gdlx", "zbdw", "sjqymc", "sjqyxydm", "ldrdh_token", "ldrdh_masked",
                   "geom"),
}
# A loaded row is one version of one source row: its drop, row and load time say which, and
# its county which partition owns it (`integrate.part_prints`).
ROW_IDENTITY = ("_drop_id", "_source_row", "_valid_from")
# On work orders read with only the parcels under some of them (`runner.inputs_cache`): True
# for those. Such inputs build work orders, and only those (`integrate.build_part`).
PARCELS_READ = "_parcels_read"
# On the counties of inputs read with the farmland of some counties only (one county's parcels
# sent again, `runner.inputs_cache`): True for those whose every share's row was read. Such
# inputs build the farmland and licences of those counties only.
ZONE_READ = "_zone_read"


def input_columns(name: str, contract: Contract) -> list[str]:
    """The core columns read into the Inputs frame `name` (see `INPUT_COLUMNS`), of those
    the contract's table has."""
    have = {c.name for c in core_columns(contract)}
    wanted = [*INPUT_COLUMNS[name], contract.county_column, *ROW_IDENTITY]
    return [c for c in dict.fromkeys(wanted) if c is not None and c in have]


def input_contracts() -> dict[str, Contract]:
    """The dataset contract filling each Inputs frame."""
    found = {}
    for name, role in INPUT_ROLES.items():
        contract = with_role(role)
        if contract is None:
            raise ValueError(f"no dataset contract plays the role {role!r}: integration needs it")
        found[name] = contract
    return found


def located(frame: gpd.GeoDataFrame, contract: Contract,
            counties: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Core rows as the integration reads them: numbered from 0, in EPSG:4490, each located
    in its county (or, with no location, the county it states)."""
    gdf = frame.reset_index(drop=True).set_crs(4490, allow_override=True)
    gdf[COUNTY] = locate(gdf, counties, stated=contract.county_column)
    return gdf


def load_inputs(wh: Warehouse) -> Inputs:
    """The current core data of every dataset playing an integration role (the columns the
    integration reads), each row located in its county (or, with no location, the county
    it states)."""
    counties = current_counties(wh).reset_index(drop=True)
    frames = {name: located(wh.read_current(contract, input_columns(name, contract)), contract,
                            counties)
              for name, contract in input_contracts().items()}
    return Inputs(counties=counties, **frames)


Picks = dict[str, list[npt.NDArray[np.intp]]]  # partition -> positions of the rows it reads


K = TypeVar("K")
V = TypeVar("V")


class Lazy(Mapping[K, V]):
    """A mapping whose values are made when asked for, each time, and never kept: a caller
    writing them one by one holds one at a time (a province's county shares together are
    another copy of its inputs)."""

    def __init__(self, makers: dict[K, Callable[[], V]]) -> None:
        self._makers = makers

    def __getitem__(self, key: K) -> V:
        return self._makers[key]()

    def __iter__(self) -> Iterator[K]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


def strays(frame: gpd.GeoDataFrame, counties: gpd.GeoDataFrame) -> npt.NDArray[np.intp]:
    """Positions of the points of `frame` (located) that lie outside the county they are
    in: placed by the county they state, or in none. Only these may touch a parcel outside
    their partition's zone (see `shares`)."""
    county_geoms = geoms_of(counties)
    shapely.prepare(county_geoms)
    codes = pd.Index(counties[COUNTY])
    first = np.flatnonzero(~codes.duplicated())  # (a code given twice: its first polygon)
    found = codes[first].get_indexer(pd.Index(frame[COUNTY]))
    polygon = np.full(len(found), -1, dtype=np.intp)  # (no county at all: every point)
    polygon[found >= 0] = first[found[found >= 0]]
    geoms = geoms_of(frame)
    within = polygon >= 0
    within[within] = shapely.covers(county_geoms[polygon[within]], geoms[within])
    return np.flatnonzero(pd.notna(geoms) & ~within).astype(np.intp)


def holders(counties: gpd.GeoDataFrame, geoms: GeomArray, owners: Codes,
            points: GeomArray, partitions: Codes) -> set[str]:
    """The partitions whose share (`shares`) holds one of these farmland rows (`geoms`, and
    the partition owning each, `owners`; missing: in none): their owners, the counties
    whose polygon they reach into, UNLOCATED for one reaching outside every county, and the
    partitions of the `points` (of licences and work orders lying outside their county,
    `strays`; each point's partition in `partitions`) that touch one. What a change of those
    rows may change, and nothing else."""
    found = set(pd.Series(owners, dtype=object).fillna(UNLOCATED))
    valid = geoms[pd.notna(geoms)]
    if not len(valid):
        return found
    county_geoms = geoms_of(counties)
    hit = shapely.STRtree(county_geoms).query(valid, predicate="intersects")[1]
    found |= set(counties[COUNTY].to_numpy(dtype=object)[np.unique(hit)])
    if len(Zone(counties, frozenset(), True).positions(gpd.GeoDataFrame(geometry=valid))):
        found.add(UNLOCATED)
    touched = shapely.STRtree(valid).query(points, predicate="intersects")[0]
    return found | set(pd.Series(partitions[touched], dtype=object).fillna(UNLOCATED))


def shares(inputs: Inputs, codes: Iterable[str]) -> Lazy[str, Inputs]:
    """Each partition's share of the inputs: what `integrate_part` reads for it, so that with
    only its share (and the run's `registers`, see `Inputs.with_registers`) a partition is
    built as from the whole inputs. A county's (or UNLOCATED's) share holds its own rows of
    every dataset; the parcels and projects of its zone (they reach into it: the farmland
    overlay reads the zone); the parcels its licences and work orders may lie on; and every
    county (the owner of a piece of land is decided among all of them).

    Points and parcels (`registers.pbf_hits` looks each point up among every parcel): a point
    located in a county by where it lies is within the county's polygon (`locate`), so each
    parcel it touches intersects the polygon and is one of the zone's. Only a point placed by
    the county it states (it lies outside that county: on a county line, or outside every
    county) or one of UNLOCATED's (outside every county, or without a geometry) may touch a
    parcel elsewhere: those few are looked up among all parcels, as `pbf_hits` does.

    One spatial query per dataset against all county polygons, not one per county; each
    share is taken from the inputs when asked for (`Lazy`)."""
    wanted = list(dict.fromkeys(codes))
    counties = inputs.counties
    county_codes = counties[COUNTY].to_numpy(dtype=object)
    county_geoms = geoms_of(counties)
    shapely.prepare(county_geoms)
    none = np.zeros(0, dtype=np.intp)

    def grouped(rows: npt.NDArray[np.intp], keys: Codes, into: Picks) -> None:
        if len(rows):
            for code, at in pd.Series(rows).groupby(keys).indices.items():
                into.setdefault(str(code), []).append(rows[at])

    def own(frame: gpd.GeoDataFrame) -> Picks:
        out: Picks = {}
        located = frame[COUNTY].fillna(UNLOCATED).to_numpy(dtype=object)
        grouped(np.arange(len(frame), dtype=np.intp), located, out)
        return out

    outside = inputs.zone([UNLOCATED])

    def zone_rows(frame: gpd.GeoDataFrame) -> Picks:
        """Zone.rows of every partition at once."""
        out = own(frame)
        if len(frame) and len(counties):
            c, rows = frame.sindex.query(county_geoms, predicate="intersects")
            grouped(rows.astype(np.intp), county_codes[c], out)
        out.setdefault(UNLOCATED, []).append(
            frame.index.get_indexer(outside.rows(frame).index).astype(np.intp))
        return out

    pbf = zone_rows(inputs.farmland_pbf)
    hsf = zone_rows(inputs.farmland_hsf)
    for frame in (inputs.licenses, inputs.complaints):
        located = frame[COUNTY].to_numpy(dtype=object)
        geoms = geoms_of(frame)
        elsewhere = strays(frame, counties)
        if len(elsewhere) and len(inputs.farmland_pbf):
            point, parcel = inputs.farmland_pbf.sindex.query(geoms[elsewhere],
                                                             predicate="intersects")
            codes_of = pd.Series(located[elsewhere[point]]).fillna(UNLOCATED)
            grouped(parcel.astype(np.intp), codes_of.to_numpy(dtype=object), pbf)
    lic, comp = own(inputs.licenses), own(inputs.complaints)

    def take(frame: gpd.GeoDataFrame, picks: Picks, code: str) -> gpd.GeoDataFrame:
        rows = np.unique(np.concatenate([none, *picks.get(code, [])]))
        return frame.iloc[rows]

    def share(code: str) -> Inputs:
        return Inputs(counties=counties,
                      farmland_pbf=take(inputs.farmland_pbf, pbf, code),
                      farmland_hsf=take(inputs.farmland_hsf, hsf, code),
                      licenses=take(inputs.licenses, lic, code),
                      complaints=take(inputs.complaints, comp, code))

    return Lazy({code: partial(share, code) for code in wanted})
