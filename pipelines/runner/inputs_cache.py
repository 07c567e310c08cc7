"""Where each input row lies, kept for the next integration run: only rows added since are
located again.

Every run reads the current rows of the four input datasets and locates each in its county
(`integrate.load_inputs`: a spatial join of representative points, a quarter of the read's
client CPU at 0.3x). A run with a staging store also stages, as a part of its own
(`.located`), each row's `_version_id` and county, and what they were located against (the
contracts and the counties); the next run reads the rows fresh, takes the county of every row
the published run located, and locates only the others. A row's content never changes while
it is current (a load adds versions and closes old ones), so its county does not either
while the counties stay the same; other counties, other contracts (`contracts_digest`), no
cache, or `--full` locate every row, as `load_inputs` does.

A run that may read part of its inputs (`partial`: the plan of a run that is neither full
nor for one county) reads no farmland when only work orders changed: when the published run
was located under the same contracts and counties and the loaded drops of the farmland and
licence datasets are the ones it read (`ledger.dataset_versions`, staged beside the counties),
the farmland partitions and the licences on farmland are the published run's, and the work
orders need only the parcels under the points of the orders added since. Those parcels are
read through the warehouse's spatial index (`Warehouse.read_current_at`), the projects not at
all; the orders whose parcels were read say so (`PARCELS_READ`), and a build that would
look up another order among them fails (`integrate.build_part`). At 1x a day's work orders
read 1.5 thousand parcels instead of a million. Those orders are the only ones enriched: of
the orders the published run located, what only enriching reads (`ENRICHING_ONLY`: seven
text columns and the point) is left missing, and the warehouse need not send it (on PostGIS,
NULLs in their place: at 1x, plan 9.2-10.4 s -> 8.4 s of a day's run). A version no newer
than those the published run located that it did not locate (a load committed after its
read began) has the whole frame read again.

Where the farmland changed but the licences did not (one county's parcels or projects sent
again: `_zoned`, on a warehouse that leaves sparse columns unread), only what the drops
loaded since the published run (staged beside its counties) changed of the farmland is read
(`_changed`: the rows they added and the versions they closed, through the indexes on
`_drop_id` and `_closed_by`; before, every current row's version id, a million at 1x);
the rows added and closed since say which partitions hold a changed row in their share
(`integrate.inputs.holders`: the owner, the counties it reaches into, those whose points
outside their county lie on it). Only those counties' shares are read, side by side
(`Warehouse.read_current_within`: boxes, versions and points in one statement) and marked
(`ZONE_READ`): they are printed and built from their whole share, the other counties keep
their parts. At 1x a resend of the largest county (106 thousand parcels) reads 116
thousand parcels and 33 thousand projects instead of 1.25 million rows, and the plan's
peak memory falls from 3.5 to 2.5 GiB. The work orders are
read as a day's run reads them (`ENRICHING_ONLY` left unread on the versions located
before), then whole by version where a build or the strays need them: the orders lying
outside their county (`STRAY`, staged beside each licence's and order's county: a row's
point and county never change while it is current) and the zones' own. At 1x: plan 20.7 ->
17.9 s (18.1 -> 15.2 CPU s), peak 2.9 -> 2.5 GiB. The licences are still read whole: the
views read every licence's point (`enterprise_profile`).

The rows themselves are not cached (a first version did, in `.located/<frame>`): staged as
GeoParquet they cost as much to decode as the warehouse's own read (ADBC, binary COPY into
Arrow). Measured at 0.3x, the plan with cached rows took 10-13 client CPU s against 10-11
reading fresh, after a day's work orders and after one county's parcels alike.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import NamedTuple, Protocol

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely

from pipelines.contracts import Contract, contracts_digest, county_layer
from pipelines.integrate.inputs import (
    COUNTY,
    ENRICHING_ONLY,
    PARCELS_READ,
    UNLOCATED,
    ZONE_READ,
    Inputs,
    geoms_of,
    holders,
    input_columns,
    input_contracts,
    locate,
    strays,
)
from pipelines.warehouse import Warehouse
from pipelines.warehouse.base import GeomArray
from pipelines.warehouse.counties import current_counties
from pipelines.warehouse.ledger import dataset_drops, dataset_versions, versions_of
from pipelines.warehouse.staging import StagingStore

log = logging.getLogger(__name__)
LOCATED = ".located"  # the part holding the run's counties of rows, and what they were against
VERSION = "_version_id"
Versions = npt.NDArray[np.int64]
# What a partial read may leave unread, and the datasets whose loads must all have been read
# by the published run for it to: the farmland, and the licences (their register, and the
# licences on farmland, which read the parcels).
UNREAD = ("farmland_pbf", "farmland_hsf")
SAME_SINCE = ("farmland_pbf", "farmland_hsf", "licenses")
# The frames of points (licences, work orders), and what the run stages of each of their rows
# beside its county: whether its point lies outside that county (`strays`). A row's point and
# county never change while it is current, so neither does the flag under the same counties
# (the cache key): a zoned read takes it from there instead of every point.
POINTED = ("licenses", "complaints")
STRAY = "_stray"


class Cached(NamedTuple):
    """What the published run staged (`LOCATED`): the counties of the rows it located, by
    frame; per dataset, the digest of the loaded drops it read (`ledger.dataset_versions`)
    and the drops themselves (None when staged before they were kept)."""

    known: dict[str, gpd.GeoDataFrame]
    seen: dict[str, str]
    drops: dict[str, list[str]] | None


NOTHING_CACHED = Cached({}, {}, None)


class Read(NamedTuple):
    """A run's inputs, whether part of them was left unread (see the module), and the
    counties whose farmland was read where only theirs changed (`ZONE_READ`)."""

    inputs: Inputs
    partial: bool = False
    zones: tuple[str, ...] = ()


def cache_key(contracts: str, counties: gpd.GeoDataFrame) -> tuple[str, str]:
    """(contracts digest, counties digest): counties cached under other contracts, or located against
    other counties (codes, names, shapes, order: `locate` takes the first county a point
    lies in), are not used."""
    digest = hashlib.sha256()
    for column in (COUNTY, "county_name"):
        digest.update("\x1f".join(map(str, counties[column])).encode("utf-8") + b"\x1e")
    for wkb in shapely.to_wkb(np.asarray(counties.geometry.array, dtype=object)):
        digest.update(b"\x1e" if wkb is None else wkb)
    return contracts, digest.hexdigest()


def load_inputs(wh: Warehouse, staging: StagingStore, run_id: str,
                full: bool = False, partial: bool = False, ahead: Prefetch | None = None
                ) -> Read:
    """`integrate.load_inputs(wh)`, locating only the rows the published run did not, and
    each row's county staged for the next run; with `partial`, the farmland left unread
    where only work orders changed since the published run; the reads started `ahead`
    taken where they still hold (`Prefetch`)."""
    counties = current_counties(wh).reset_index(drop=True)
    key = cache_key(contracts_digest(), counties)
    drops = dataset_drops(wh)
    versions = versions_of(drops)
    source = staging.published()
    known, seen, seen_drops = NOTHING_CACHED if full or source is None or source == run_id \
        else (ahead.cache_for(source, key) if ahead else None) or _read_cache(staging, source,
                                                                               key)
    contracts = input_contracts()

    def same(name: str) -> bool:
        d = contracts[name].dataset
        return name in known and seen.get(d) is not None and seen.get(d) == versions.get(d)

    unread = partial and all(same(name) for name in SAME_SINCE)
    # some farmland changed, the licences did not: the farmland read where it changed
    zoned = partial and not unread and wh.reads_in_part and same("licenses") and all(
        name in known for name in contracts)
    # zoned, with the drops the published run read: of the farmland, only what the drops
    # loaded since added and closed is read (`_changed`), not every current row's version
    since = _since(seen_drops, drops, [contracts[n].dataset for n in UNREAD]) if zoned else None
    frames: dict[str, gpd.GeoDataFrame] = {}
    places: dict[str, gpd.GeoDataFrame] = {}
    new: dict[str, npt.NDArray[np.bool_]] = {}  # per frame, the rows not located before
    closed: dict[str, gpd.GeoDataFrame] = {}  # the versions closed since, where they lay
    new_points: GeomArray = np.zeros(0, dtype=object)  # (read before the parcels)
    # the work orders first when the farmland under their new points is read after them
    order = sorted(contracts.items(), key=lambda kv: kv[0] in UNREAD and unread)
    # the orders located before are taken over, never enriched: their enriching columns and
    # points are left unread (a day's run at 1x: 7 text columns and a point of a million
    # orders neither sent nor decoded). Zoned: of the farmland located before, only the
    # version ids are read (what changed is told from them), every column left unread.
    sparse: dict[str, tuple[Sequence[str], int | None]] = {}
    if unread:
        sparse = {name: (ENRICHING_ONLY[name], _newest(known[name]))
                  for name in ENRICHING_ONLY if name in known}
    elif zoned:
        sparse = {name: ([*input_columns(name, contracts[name]), "geom"], _newest(known[name]))
                  for name in UNREAD}
        # and of the work orders, what only enriching reads, where the published run staged
        # which lie outside their county (their points are read, with the zones' orders)
        sparse.update({name: (ENRICHING_ONLY[name], _newest(known[name]))
                       for name in ENRICHING_ONLY if STRAY in known[name].columns})
    whole = _Ahead(wh, [(n, c) for n, c in order
                        if not (unread or since is not None) or n not in UNREAD],
                   sparse, ahead, versions)
    try:
        for name, contract in order:
            if since is not None and name in UNREAD:
                frames[name], places[name], new[name], closed[name] = _changed(
                    wh, name, contract, counties, known[name], since[contract.dataset])
                continue
            frames[name], places[name], new[name] = _located(
                wh, name, contract, counties, known.get(name), unread, whole, new_points)
            if unread and name == "complaints":
                new_points = geoms_of(frames[name])[frames[name][PARCELS_READ].to_numpy()]
    finally:
        whole.close()
    zones: tuple[str, ...] = ()
    if zoned:
        zones = _zoned(wh, contracts, frames, places, known, new, counties,
                       {n: upto for n, (_, upto) in sparse.items() if n in POINTED}, closed)
        if zones:
            counties = counties.assign(**{ZONE_READ: counties[COUNTY].isin(zones)})
    # ("setup": the column's name from when the key was the warehouse's setup digest)
    places["key"] = gpd.GeoDataFrame({"setup": [key[0]], "counties": [key[1]],
                                      "versions": [json.dumps(versions, sort_keys=True)],
                                      "drops": [json.dumps(drops, sort_keys=True)]},
                                     geometry=[None], crs=4490)
    staging.write(run_id, LOCATED, places)
    if unread:
        log.info("integration run %s: only work orders changed since run %s: %d parcels read "
                 "under %d new orders, no project", run_id, source,
                 len(frames["farmland_pbf"]), len(new_points))
    if zones:
        log.info("integration run %s: the farmland changed since run %s in %s only: %d "
                 "parcels and %d projects read, %d work orders to enrich", run_id, source,
                 ", ".join(zones), len(frames["farmland_pbf"]), len(frames["farmland_hsf"]),
                 int(frames["complaints"][PARCELS_READ].sum()))
    return Read(Inputs(counties=counties, **frames), unread or bool(zones), zones)


def _zoned(wh: Warehouse, contracts: dict[str, Contract], frames: dict[str, gpd.GeoDataFrame],
           places: dict[str, gpd.GeoDataFrame], known: dict[str, gpd.GeoDataFrame],
           new: dict[str, npt.NDArray[np.bool_]], counties: gpd.GeoDataFrame,
           sparse: dict[str, int | None], closed: dict[str, gpd.GeoDataFrame]
           ) -> tuple[str, ...]:
    """Where only some counties' farmland changed since the published run (one county's
    parcels sent again): the farmland frames (what the drops since added, `_changed`, or
    every current row read for its version id only) replaced by the rows of those
    counties' shares, read by box, version and point (`read_current_within`),
    and the counties returned. The counties are those whose share (`integrate.holders`)
    holds a row added or closed since: its owner, the counties it reaches into, those whose
    points outside their county touch it. Their every family is built again from their
    whole share; the other counties keep their farmland and licence parts, and their new
    work orders are enriched from the parcels under them (read too). Where a change reaches
    outside every county, or more than half the counties, the farmland is read whole (no
    county returned).

    The work orders of `sparse` were read without what only enriching reads of the
    versions up to `sparse[name]` (as a day's run reads them): of those, the ones outside
    their county (`STRAY`, as the published run staged it) and then the zones' are read
    whole by version (`_filled`), the only ones a build reads more of. At 1x that is a
    county's orders of a million."""
    geoms: list[GeomArray] = []
    owners: list[npt.NDArray[np.object_]] = []
    for name in UNREAD:
        geoms.append(geoms_of(frames[name])[new[name]])
        owners.append(frames[name][COUNTY].to_numpy(dtype=object)[new[name]])
        ids = places[name][VERSION].to_numpy(dtype=np.int64)
        cached = known[name][VERSION].to_numpy(dtype=np.int64)
        gone = np.setdiff1d(cached, ids, assume_unique=True)
        if len(gone):  # where the closed rows lay (read with them, `_changed`), their owners
            rows = closed[name] if name in closed else wh.read_versions(contracts[name], [],
                                                                        gone.tolist())
            rows = rows[rows[VERSION].isin(gone)]
            geoms.append(geoms_of(rows))
            at = _cached_at(rows[VERSION].to_numpy(dtype=np.int64), known[name])
            owners.append(known[name][COUNTY].to_numpy(dtype=object)[at])
    # the licences' and orders' points outside their county (staged by the published run
    # for the rows it located), and their partitions
    unread = {n: ~new[n] & (places[n][VERSION].to_numpy(dtype=np.int64) <= upto)
              for n, upto in sparse.items() if upto is not None}
    outside = []
    for name in POINTED:  # (`_located` staged every pointed frame's flags)
        out = np.flatnonzero(places[name][STRAY].to_numpy(dtype=bool))
        if name in unread:  # their points (and the rest) were left unread
            _filled(wh, contracts[name], frames[name], places[name], out[unread[name][out]],
                    ENRICHING_ONLY[name])
        outside.append(out)
    points = np.concatenate([geoms_of(frames[n])[a] for n, a in zip(
        POINTED, outside, strict=True)])
    partitions = np.concatenate([frames[n][COUNTY].to_numpy(dtype=object)[a] for n, a in zip(
        POINTED, outside, strict=True)])
    zones = holders(counties, np.concatenate(geoms), np.concatenate(owners), points, partitions)
    new_orders = new["complaints"]
    if UNLOCATED in zones or 2 * len(zones) > len(counties):
        log.info("the farmland changed in %d partitions: read whole", len(zones))
        again = [*UNREAD, *unread]
        whole = _Ahead(wh, [(name, contracts[name]) for name in again])
        try:
            for name in again:
                frames[name], _, _ = _located(wh, name, contracts[name], counties,
                                              known[name], False, whole,
                                              np.zeros(0, dtype=object))
        finally:
            whole.close()
        return ()
    mine = counties[COUNTY].isin(zones).to_numpy()
    boxes = [tuple(b) for b in shapely.bounds(geoms_of(counties)[mine])]
    # the parcels the zones' points outside their county and the new orders lie on
    under = np.concatenate([geoms_of(frames["complaints"])[new_orders],
                            points[pd.Series(partitions).isin(zones).to_numpy()]])
    # the zones' farmland read side by side where the warehouse can, while the zones' own
    # work orders are filled (at 1x three reads one after another: 1.7 s of the plan)
    with ThreadPoolExecutor(2 if wh.reads_side_by_side else 1, "yitu-zone") as pool:
        reads = {name: pool.submit(
            wh.read_current_within, contracts[name], input_columns(name, contracts[name]),
            boxes, places[name][VERSION].to_numpy(dtype=np.int64)[
                places[name][COUNTY].isin(zones).to_numpy()].tolist(),
            under if name == "farmland_pbf" else None) for name in UNREAD}
        for name, left in unread.items():  # the zones' own rows, whole (strays are, above)
            left = left.copy()
            left[outside[POINTED.index(name)]] = False
            _filled(wh, contracts[name], frames[name], places[name],
                    np.flatnonzero(left & frames[name][COUNTY].isin(zones).to_numpy()),
                    ENRICHING_ONLY[name])
        for name in UNREAD:
            rows = reads[name].result()
            # each row's county as located above (every row current then is in `places`;
            # one loaded since is left to the next run, as a whole read would have)
            at = _cached_at(rows[VERSION].to_numpy(dtype=np.int64), places[name])
            rows = rows[at >= 0]
            at = at[at >= 0]
            frame = _unversioned(rows)
            frame[COUNTY] = _codes_at(places[name], at, frame.index).astype(
                frames[name][COUNTY].dtype)
            frames[name] = frame
    orders_frame = frames["complaints"]
    orders_frame[PARCELS_READ] = new_orders | orders_frame[COUNTY].isin(zones).to_numpy()
    return tuple(c for c in counties[COUNTY] if c in zones)


class _Ahead:
    """The whole reads of a run, side by side where the warehouse allows: the next read
    runs while this one's rows are located (a province's licences and work orders, 4.7 s
    instead of 7.5). At most two are under way or read and not yet taken: a third waits, so
    a province's four frames are never all held twice, as read and as located."""

    def __init__(self, wh: Warehouse, reads: list[tuple[str, Contract]],
                 sparse: dict[str, tuple[Sequence[str], int | None]] | None = None,
                 ahead: Prefetch | None = None, versions: dict[str, str] | None = None
                 ) -> None:
        self.wh, self.waiting = wh, list(reads)
        # frame -> (columns left unread, on versions up to this one)
        self.sparse = {k: (c, v) for k, (c, v) in (sparse or {}).items() if v is not None}
        self.ahead, self.versions = ahead, versions or {}
        self.pool = ThreadPoolExecutor(2 if wh.reads_side_by_side else 1, "yitu-read")
        self.running: dict[str, Future[gpd.GeoDataFrame]] = {}
        self._start()

    def _start(self) -> None:
        while self.waiting and len(self.running) < 2:
            name, contract = self.waiting.pop(0)
            columns, upto = self.sparse.get(name, ((), None))
            started = self.ahead.take(name, (tuple(columns), upto), self.versions) \
                if self.ahead is not None else None
            self.running[name] = started or self.pool.submit(
                self.wh.read_current_versions, contract, input_columns(name, contract),
                columns, upto)

    def __contains__(self, name: str) -> bool:
        return name in self.running or any(n == name for n, _ in self.waiting)

    def take(self, name: str) -> gpd.GeoDataFrame:
        rows = self.running.pop(name).result()
        self._start()
        return rows

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


Sparse = tuple[tuple[str, ...], int | None]  # columns left unread, on versions up to this one


class Waitable(Protocol):
    def wait(self, timeout: float | None = None) -> bool: ...


AFTER_SECONDS = 60.0  # the longest the reads ahead wait for `after`


def _waited(after: Waitable) -> None:
    if not after.wait(AFTER_SECONDS):
        log.warning("reads ahead of the plan: not told to start within %.0f s; started",
                    AFTER_SECONDS)


class Prefetch:
    """Whole reads of an integration's inputs that the drops being answered (`answering`:
    their datasets) cannot change, started before the run is planned: `runner.run_all`
    starts them while the drops are answered, on a warehouse that reads side by side. The
    plan (`load_inputs`) takes a read only when its dataset's loaded drops are the ones
    there were when it started (nothing loaded into it since, by this run or another: a
    load commits its rows and its ledger outcome at once) and it reads the frame with the
    same columns; otherwise the read is left and the plan reads the frame itself.

    Every plan reads the licences whole. The work orders are read as a plan that takes the
    published run's located rows reads them (`ENRICHING_ONLY` left unread on the versions it
    located: `load_inputs`), which a run where neither they, the licences nor the counties
    changed does; a full run reads them whole. At 1x, a county's parcels sent again: the
    plan waited 6 s for these two reads after the drop was answered. They start once
    `after` is set (at most AFTER_SECONDS): `runner.run_all` sets it once its worker's first
    file is parsed (`runner._first_parse`)."""

    def __init__(self, wh: Warehouse, staging: StagingStore, answering: set[str],
                 full: bool, after: Waitable | None = None) -> None:
        self.contracts = contracts = input_contracts()
        self.versions = dataset_versions(wh)  # before any read starts
        self.source = source = staging.published()
        self.cached: tuple[tuple[str, str], Cached] | None = None
        untouched = {n for n in POINTED if contracts[n].dataset not in answering}
        base = county_layer()
        reads: dict[str, Sparse] = {}
        if wh.reads_side_by_side and source is not None:
            if "licenses" in untouched:
                reads["licenses"] = ((), None)
            if not full and untouched == set(POINTED) and (base is None or
                                                           base.dataset not in answering):
                # as a run taking the published one's located rows reads them
                key = cache_key(contracts_digest(), current_counties(wh).reset_index(drop=True))
                cached = _read_cache(staging, source, key)
                self.cached = (key, cached)
                orders = cached.known.get("complaints")
                newest = None if orders is None else _newest(orders)
                if orders is not None and STRAY in orders.columns and newest is not None:
                    reads["complaints"] = (ENRICHING_ONLY["complaints"], newest)
        # One read at a time: both are done long before the drops are (at 1x a county's
        # parcels, 14 s of a 20-26 s answer), and two at once took more of the cores the
        # answer's own reading child and load needed (resend 62.8, 67.7 s against 69.9).
        self.pool = ThreadPoolExecutor(1, "yitu-prefetch")
        if after is not None and reads:  # (queued first: the reads wait for it)
            self.pool.submit(_waited, after)
        self.reads = {name: (sparse, self.pool.submit(
            wh.read_current_versions, contracts[name], input_columns(name, contracts[name]),
            *sparse)) for name, sparse in reads.items()}
        if self.reads:
            log.info("reading %s ahead of the plan", ", ".join(self.reads))

    def cache_for(self, source: str, key: tuple[str, str]) -> Cached | None:
        """The published run's located rows (`_read_cache`), if read here for these."""
        if self.cached is None or source != self.source or key != self.cached[0]:
            return None
        return self.cached[1]

    def take(self, name: str, sparse: Sparse, versions: dict[str, str]
             ) -> Future[gpd.GeoDataFrame] | None:
        """The read of frame `name`, if started here with `sparse` and still current by
        `versions` (the plan's `dataset_versions`); else None, and it is left."""
        found = self.reads.pop(name, None)
        if found is None:
            return None
        dataset = self.contracts[name].dataset
        if found[0] != sparse or self.versions.get(dataset) != versions.get(dataset):
            log.info("%s: read ahead of the plan, but not as the plan reads it: read again",
                     name)
            return None
        return found[1]

    def close(self) -> None:
        """Wait for what is still being read (it cannot be stopped), keep nothing."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.reads.clear()


def _located(wh: Warehouse, name: str, contract: Contract, counties: gpd.GeoDataFrame,
             cached: gpd.GeoDataFrame | None, unread: bool, whole: _Ahead,
             new_points: GeomArray
             ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, npt.NDArray[np.bool_]]:
    """One frame of the inputs, its rows located, the counties of its rows to stage, and
    which of its rows the published run did not locate."""
    if name in whole:
        rows = whole.take(name)
    else:  # the parcels under the new orders' points; no project
        rows = wh.read_current_at(contract, input_columns(name, contract),
                                  new_points if name == "farmland_pbf" else new_points[:0])
    ids = rows[VERSION].to_numpy(dtype=np.int64)
    at = _cached_at(ids, cached)
    upto = whole.sparse.get(name, ((), None))[1]
    if upto is not None and bool(((ids <= upto) & (at < 0)).any()):
        # a version the published run did not locate, though no newer than one it did (a
        # load that committed after its read began): its enriching columns are needed
        log.info("%s: a version older than the located ones is new: read whole", name)
        rows = wh.read_current_versions(contract, input_columns(name, contract))
        ids = rows[VERSION].to_numpy(dtype=np.int64)
        at = _cached_at(ids, cached)
        upto = None
    frame = _unversioned(rows)
    del rows
    frame[COUNTY] = _counties_of(frame, contract, counties, cached, at)
    new = at < 0
    if unread and name == "complaints":
        frame[PARCELS_READ] = new
    if unread and name in UNREAD and cached is not None:
        place = cached
    else:
        place = gpd.GeoDataFrame({VERSION: ids, COUNTY: frame[COUNTY].to_numpy()},
                                 geometry=[None] * len(ids), crs=4490)
        flags = _strays_of(frame, counties, cached, at, upto) if name in POINTED else None
        if flags is not None:
            place[STRAY] = flags
    return frame, place, new


def _unversioned(rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A warehouse read's rows as an Inputs frame: without their version id, indexed from 0,
    in EPSG:4490."""
    return rows.drop(columns=[VERSION]).reset_index(drop=True).set_crs(4490,
                                                                        allow_override=True)


def _strays_of(frame: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
               known: gpd.GeoDataFrame | None, at: npt.NDArray[np.intp], upto: int | None
               ) -> npt.NDArray[np.bool_] | None:
    """Whether each row's point lies outside its county (`strays`): the published run's
    flag for a row it located (`at` in `known`), the others' worked out now. None when a
    row's flag is not known and its point may have been left unread (read in part, against a
    cache staged before flags were)."""
    hit = at >= 0
    flags = np.zeros(len(frame), dtype=bool)
    if known is not None and STRAY in known.columns:
        flags[hit] = known[STRAY].to_numpy(dtype=bool)[at[hit]]
        todo = np.flatnonzero(~hit)
    elif upto is not None:
        return None
    else:
        todo = np.arange(len(frame), dtype=np.intp)
    if len(todo):
        flags[todo[strays(frame.iloc[todo], counties)]] = True
    return flags


def _filled(wh: Warehouse, contract: Contract, frame: gpd.GeoDataFrame,
            place: gpd.GeoDataFrame, rows: npt.NDArray[np.intp], columns: Sequence[str]
            ) -> None:
    """The `columns` of `frame`'s rows at `rows`, left unread by a read in part, read by
    version (`place` holds each row's) and set in place."""
    if not len(rows):
        return
    ids = place[VERSION].to_numpy(dtype=np.int64)[rows]
    got = wh.read_versions(contract, [c for c in columns if c != frame.geometry.name],
                           ids.tolist())
    at = pd.Index(got[VERSION].to_numpy(dtype=np.int64)).get_indexer(ids)
    if (at < 0).any():  # versions are never deleted: a missing one is a broken warehouse
        raise RuntimeError(f"{contract.dataset}: version {ids[at < 0][0]} is not in the "
                           "warehouse")
    for column in columns:
        values = got.geometry.array if column == frame.geometry.name else got[column].array
        frame.iloc[rows, frame.columns.get_loc(column)] = values.take(at)


def _newest(known: gpd.GeoDataFrame) -> int | None:
    """The newest version among those the published run located (None: it located none)."""
    versions = known[VERSION].to_numpy(dtype=np.int64)
    return int(versions.max()) if len(versions) else None


def _read_cache(staging: StagingStore, source: str, key: tuple[str, str]) -> Cached:
    """`source`'s counties of rows by frame, when located under these contracts and counties,
    and the versions and drops of the datasets it read (none, when staged before they were
    kept)."""
    found = staging.read(source, LOCATED) or {}
    stamp = found.pop("key", None)
    if stamp is None or len(stamp) != 1 or (str(stamp["setup"].iloc[0]),
                                            str(stamp["counties"].iloc[0])) != key:
        return NOTHING_CACHED
    seen = json.loads(str(stamp["versions"].iloc[0])) if "versions" in stamp.columns else {}
    drops = json.loads(str(stamp["drops"].iloc[0])) if "drops" in stamp.columns else None
    return Cached(found, seen, drops)


def _since(seen: dict[str, list[str]] | None, drops: dict[str, list[str]],
           datasets: list[str]) -> dict[str, list[str]] | None:
    """Per dataset, the drops loaded since the published run read it (`seen`, as staged);
    None where that is not known (staged before the drops were), or a drop it read is no
    longer loaded (never so today: a loaded drop stays loaded)."""
    if seen is None:
        return None
    out = {}
    for dataset in datasets:
        before, now = set(seen.get(dataset, ())), set(drops.get(dataset, ()))
        if not before <= now:
            return None
        out[dataset] = sorted(now - before)
    return out


def _changed(wh: Warehouse, name: str, contract: Contract, counties: gpd.GeoDataFrame,
             cached: gpd.GeoDataFrame, drops: list[str]
             ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, npt.NDArray[np.bool_],
                        gpd.GeoDataFrame]:
    """`_located` of a frame the published run located (`cached`) from what the `drops`
    loaded since changed (`Warehouse.read_changed`): the frame holds the rows they added,
    located; the counties staged are those of every current row, the published run's less
    the versions closed since, with the added ones. At 1x one county's parcels sent again:
    the 2 thousand that differ added and as many closed (a snapshot keeps the versions of
    the rows it repeats, `warehouse.versions`; 106 thousand each before), instead of a
    million versions read. The closed versions come back too, with where they lay."""
    rows, closed = wh.read_changed(contract, input_columns(name, contract), drops)
    ids = rows[VERSION].to_numpy(dtype=np.int64)
    at = _cached_at(ids, cached)
    frame = _unversioned(rows)
    del rows
    frame[COUNTY] = _counties_of(frame, contract, counties, cached, at)
    new = at < 0
    kept = cached[~np.isin(cached[VERSION].to_numpy(dtype=np.int64),
                           closed[VERSION].to_numpy(dtype=np.int64))]
    added = gpd.GeoDataFrame({VERSION: ids[new], COUNTY: frame[COUNTY].to_numpy()[new]},
                             geometry=[None] * int(new.sum()), crs=4490)
    added[COUNTY] = added[COUNTY].astype(kept[COUNTY].dtype)
    place = pd.concat([kept[[VERSION, COUNTY, kept.geometry.name]], added], ignore_index=True)
    return frame, gpd.GeoDataFrame(place, geometry=kept.geometry.name, crs=4490), new, closed


def _cached_at(ids: Versions, known: gpd.GeoDataFrame | None) -> npt.NDArray[np.intp]:
    """Where each of the versions `ids` (unique) is among those the published run located
    (`known`); -1 for a version it did not."""
    if known is None or not len(known) or not len(ids):
        return np.full(len(ids), -1, dtype=np.intp)
    at: npt.NDArray[np.intp] = pd.Index(known[VERSION].to_numpy(dtype=np.int64)).get_indexer(ids)
    return at


def _codes_at(known: gpd.GeoDataFrame, at: npt.NDArray[np.intp], index: pd.Index
              ) -> pd.Series:
    """The counties `known` holds at positions `at` (-1: missing, as `locate` leaves a row
    in no county), taken in their own (Arrow) type: through Python objects a million codes
    took 1.5 s a frame."""
    return pd.Series(known[COUNTY].array.take(at, allow_fill=True), index=index)


def _counties_of(frame: gpd.GeoDataFrame, contract: Contract, counties: gpd.GeoDataFrame,
                 known: gpd.GeoDataFrame | None, at: npt.NDArray[np.intp]) -> pd.Series:
    """`locate`'s answer for each row: the cached county of a version located before (at
    `at` in `known`), the others located now."""
    if known is None or not len(known) or not len(frame):
        return locate(frame, counties, stated=contract.county_column)
    hit = at >= 0
    # only what `locate` reads, of only the rows located now: a mask over every column of a
    # million rows cost 0.4 s a frame, whether any row was left to locate or not
    used = [frame.geometry.name, *([contract.county_column] if contract.county_column else [])]
    found = locate(frame[used].iloc[np.flatnonzero(~hit)], counties,
                   stated=contract.county_column)
    codes = _codes_at(known, np.where(hit, at, -1), frame.index).astype(found.dtype)
    if len(found):
        codes.iloc[np.flatnonzero(~hit)] = found.to_numpy(dtype=object)
    return codes
