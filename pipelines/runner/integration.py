"""An integration run: its state made once (`IntegrationRun`: run id, the moment deadlines are
judged at, the partitions) and passed to every partition and to publish. Its tasks hand each
other the inputs and the partitions' layers through the warehouse's staging store
(`pipelines.warehouse.staging`: the PostGIS warehouse itself, or a folder beside the embedded
one), so they may run on any worker."""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from functools import cache, partial
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines import integrate
from pipelines.config import Settings, UsageError
from pipelines.contracts import all_layers, contracts_digest, load_layer
from pipelines.integrate import ENRICHED, FAMILIES, ROW_COLUMNS, planar, segments
from pipelines.integrate.assessment import LAYER as ASSESSMENT
from pipelines.integrate.assessment_sources import (
    ASSESSED_FROM,
    COUNTS,
    build_assessment,
    delivery_counts,
    ledger_version,
)
from pipelines.integrate.inputs import INPUT_ROLES, Lazy
from pipelines.integrate.inputs import shares as inputs_shares
from pipelines.integrate.registers import Registers
from pipelines.publish import difference
from pipelines.publish.layers import kept_in_place, publish_layers, typed_frame
from pipelines.runner import inputs_cache, runlog
from pipelines.runner.metrics import Stages
from pipelines.runner.parallel import forked_map
from pipelines.warehouse import Warehouse, ledger, open_warehouse
from pipelines.warehouse.base import Layer, Parted
from pipelines.warehouse.staging import (
    INPUTS,
    REGISTERS,
    Carry,
    Frames,
    StagingStore,
    share_part,
    staging_store,
)

log = logging.getLogger(__name__)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the hotline's timestamps are local wall-clock times
PUBLISHED_FROM = "published_from"  # audit.meta: the core version the published layers show
NOTHING_LOADED = "0:-"
LAST_RUN_COST = "last_integration_cost"  # audit.meta: per-stage cost of the last integration
CLI_STAGES = {"integrate.read": "plan"}  # in the runs' ledger: the CLI plans as it reads


def core_version(wh: Warehouse) -> str:
    """What core holds, as one string: the loaded drops, counted, and the last one. Loaded
    drops change core and nothing else does, so equal versions mean equal core data."""
    loaded = ledger.list_drops(wh, state="loaded")
    last = max(loaded, key=lambda d: (d.processed_at or d.received_at, d.drop_id), default=None)
    return f"{len(loaded)}:{last.drop_id}" if last else NOTHING_LOADED


def publish_is_stale(wh: Warehouse, version: str) -> bool:
    """Whether the published layers show older core data than `version`, or a county
    assessment older than the drops ledger (a rejected file changes its quality figures, not
    core); nothing loaded yet: nothing to publish."""
    return version != NOTHING_LOADED and (wh.meta(PUBLISHED_FROM) != version
                                          or wh.meta(ASSESSED_FROM) != ledger_version(wh))


def as_of() -> datetime:
    """The moment response-time deadlines are judged at: now, or YITU_AS_OF for a replay."""
    fixed = os.environ.get("YITU_AS_OF")
    if fixed:
        return datetime.fromisoformat(fixed).replace(tzinfo=None)
    return datetime.now(LOCAL_TZ).replace(tzinfo=None)


@dataclass(frozen=True)
class IntegrationRun:
    """Made once per run and handed to every task: partitions of one run are built against
    one `as_of`, and publish merges exactly the partitions the run planned.

    `build` lists the partitions (`<county>/<family>`) whose inputs changed since the
    published run; the others were taken over from it when the run was planned. `partitions`
    are the counties with something to build (one Airflow task each)."""

    run_id: str
    as_of: datetime
    partitions: tuple[str, ...]
    county: str | None = None  # a run for one county keeps the others' published partitions
    core_version: str = ""  # what core held when the run was planned (`core_version`)
    build: tuple[str, ...] = ()  # the partitions to build; empty: every family of `partitions`

    def as_xcom(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        d["partitions"] = list(self.partitions)
        d["build"] = list(self.build)
        return d

    @classmethod
    def from_xcom(cls, d: dict[str, Any]) -> IntegrationRun:
        return cls(run_id=str(d["run_id"]), as_of=datetime.fromisoformat(d["as_of"]),
                   partitions=tuple(d["partitions"]), county=d.get("county"),
                   core_version=str(d.get("core_version", "")),
                   build=tuple(d.get("build") or ()))

    def parts_of(self, county: str) -> list[str]:
        """The partitions of `county` this run builds."""
        mine = [k for k in self.build if integrate.split_key(k)[0] == county]
        return mine if self.build else integrate.part_keys([county])


def store(settings: Settings, wh: Warehouse) -> StagingStore:
    """Where the run's tasks stage inputs and partitions: chosen by the warehouse."""
    return staging_store(wh, settings.staging)


def plan_run(wh: Warehouse, run_id: str, county: str | None = None,
             when: datetime | None = None, staging: StagingStore | None = None,
             full: bool = False) -> IntegrationRun:
    """Every partition, or only `county` (a manual run for one county). With `staging`, the
    inputs are read from the warehouse and located here, once, for every task of the run, and
    the partitions whose inputs did not change since the published run are taken from it
    (all are built again when `full`)."""
    return _plan(wh, run_id, county, when, staging, full, keep_inputs=True).run


class Planned(NamedTuple):
    """A run planned: the run, the inputs it planned with, every partition of them, and the
    digest of their licence register (`integrate.register_digest`) with whether the run has
    it staged already (taken over from the published run)."""

    run: IntegrationRun
    inputs: integrate.Inputs
    codes: list[str]
    register: str = ""
    register_staged: bool = False
    partial: bool = False  # the farmland left unread (`inputs_cache.Read.partial`)


def _plan(wh: Warehouse, run_id: str, county: str | None, when: datetime | None,
          staging: StagingStore | None, full: bool, keep_inputs: bool,
          partial: bool = True, ahead: inputs_cache.Prefetch | None = None) -> Planned:
    version = core_version(wh)  # before the inputs: a load after this is published next time
    # with staging: only rows the published run did not locate are located (inputs_cache),
    # and where only work orders changed, the farmland is left unread (`partial`)
    read = inputs_cache.Read(integrate.load_inputs(wh)) if staging is None else \
        inputs_cache.load_inputs(wh, staging, run_id, full, partial and county is None, ahead)
    inputs = read.inputs
    when = when or as_of()
    codes = integrate.partitions(inputs)
    if county is not None and county not in codes:
        raise UsageError(f"unknown county partition {county!r}; known: {', '.join(codes)}")
    if staging is None:
        run = IntegrationRun(run_id, when, tuple([county] if county else codes), county, version)
        return Planned(run, inputs, codes)
    published = staging.published()
    before = {} if full or published is None or published == run_id else \
        _built_from(staging, published)
    if read.partial:
        light = _light_prints(staging, published, inputs, codes, before)
        if light is None:  # the unread farmland may matter after all: read it
            log.info("integration run %s: the farmland is read after all", run_id)
            return _plan(wh, run_id, county, when, staging, full, keep_inputs, partial=False)
        # the licences are the published run's: so is their register, if it staged one
        taken = _reuse_registers(staging, run_id, published, inputs, None)
        register = taken or integrate.register_digest(inputs.licenses)
        reused, now = bool(taken), light
        if read.zones:  # their farmland changed: their every part printed from their share
            now.update(integrate.part_prints(inputs, read.zones, tag=contracts_digest(),
                                             register=register))
    else:
        register = integrate.register_digest(inputs.licenses)
        reused = not full and bool(_reuse_registers(staging, run_id, published, inputs,
                                                    register))
        # the contracts too: a changed contract changes what every partition holds
        now = integrate.part_prints(inputs, codes, tag=contracts_digest(),
                                    register=register)
    judged = integrate.judged_alike(inputs, codes, when)  # response times: alike until...
    if county is not None:  # the others as published, whatever changed since
        build = integrate.part_keys([county])
        keep = [k for k in now if k not in build]
    else:
        build = [k for k in now if k not in before
                 or before[k].fingerprint != now[k].fingerprint
                 or not integrate.still_alike(before[k].judged, when)]
        keep = [k for k in now if k not in build]
    if keep and published is not None and published != run_id:
        staging.adopt(run_id, published, keep)
    have = set(staging.parts(run_id))
    if county is None:
        build += [k for k in keep if k not in have]  # gone from the published run: built
    keep = [k for k in keep if k in have]  # (a county run missing some cannot publish)
    # What each partition was built from, for the next run to compare with: its own inputs,
    # or for one taken over, what the published run recorded for it.
    # A work-order part rebuilt from the context the published run built it from takes over
    # that run's rows one by one (`integrate.build_part`): `rows_from` names the run.
    built_from = {**{k: before.get(k, Built())._replace(rows_from="") for k in keep},
                  **{k: Built(now[k].fingerprint, judged.get(k, ("", "")), now[k].context,
                              _rows_from(before.get(k), now[k], published), run_id)
                     for k in build}}
    staging.write(run_id, BUILT_FROM, {BUILT_FROM: _fingerprint_frame(built_from)})
    if keep_inputs:
        staging.write_parts(run_id, _frames(inputs, build, register, reused))
    wanted = set(build)
    build = [k for k in now if k in wanted]  # in partition order
    counties = tuple(dict.fromkeys(integrate.split_key(k)[0] for k in build))
    log.info("integration run %s: %d of %d partitions to build (%s), %d taken from run %s",
             run_id, len(build), len(now), "full" if full else "changed inputs", len(keep),
             published)
    return Planned(IntegrationRun(run_id, when, counties, county, version, tuple(build)),
                   inputs, codes, register, reused, read.partial)


def _light_prints(staging: StagingStore, published: str | None, inputs: integrate.Inputs,
                  codes: list[str], before: dict[str, Built]) -> dict[str, integrate.PartPrint] | None:
    """The prints of a run whose farmland was left unread (`inputs_cache.Read.partial`): the
    farmland and licence partitions as the published run recorded them (what they read is
    the same), the work orders' from their context as recorded and their orders now
    (`integrate.orders_prints`). None when the unread farmland could change the plan: a
    partition the published run did not record or stage (built whole), a work-order part
    recorded without its context, another set of partitions (a new order in no county)."""
    keys = integrate.part_keys(codes)
    if published is None or sorted(keys) != sorted(before):
        return None
    orders = {k: before[k].context for k in keys if integrate.split_key(k)[1] == "complaints"}
    staged = set(staging.parts(published))
    if not all(orders.values()) or not all(k in staged for k in keys if k not in orders):
        return None
    prints = integrate.orders_prints(inputs, orders)
    return {k: prints[k] if k in prints else integrate.PartPrint(before[k].fingerprint)
            for k in keys}


BUILT_FROM = ".built_from"  # the run's record of what each of its partitions was built from


def _reuse_registers(staging: StagingStore, run_id: str, published: str | None,
                     inputs: integrate.Inputs, digest: str | None) -> str:
    """The licence register the published run staged (`REGISTERS`), when made of the same
    licences (`integrate.register_digest`; None: they are the published run's, whatever
    the digest), for these inputs and staged for this run too: normalising a province's
    million names took 6 s of every daily run. Its digest, or "" if none was taken."""
    if published is None or published == run_id:
        return ""
    found = staging.read(published, REGISTERS)
    frame = (found or {}).get("registers")
    if frame is None or "digest" not in frame.columns or \
            digest not in (None, frame["digest"].iloc[0]):
        return ""
    inputs.with_registers(_registers_of(frame))
    staging.adopt(run_id, published, [REGISTERS])
    return str(frame["digest"].iloc[0])


def _matches_orders(keys: Iterable[str]) -> bool:
    """Whether these partitions build enriched work orders (matched against the register)."""
    return any(integrate.split_key(k)[1] == "complaints" for k in keys)


def _registers_of(frame: gpd.GeoDataFrame) -> Registers:
    """The register a `REGISTERS` part's frame holds (`_registers_part`)."""
    registers: Registers = pickle.loads(frame["pickled"].iloc[0])
    return registers


def _registers_part(inputs: integrate.Inputs, digest: str) -> Frames:
    # Pickled: the register is whatever `Registers` holds (Arrow arrays or pandas), and the
    # staging store is the loader's own (no other role may read or write it).
    return {"registers": gpd.GeoDataFrame(
        {"pickled": [pickle.dumps(inputs.registers, protocol=5)], "digest": [digest]},
        geometry=[None], crs=4490)}


class Built(NamedTuple):
    """What a partition was built from (`integrate.part_prints`), and for work orders the
    interval of `as_of` its response times hold for (`integrate.judged_alike`), the context
    of its rows, the run whose staged rows its build may take over (`rows_from`, "" for
    none: a first or full build, a context changed, a part taken over whole), and the run
    that built it (`built_by`: a part taken over keeps it, so publish knows a part it
    published already; "" when not known)."""

    fingerprint: str = ""
    judged: tuple[str, str] = ("", "")
    context: str = ""
    rows_from: str = ""
    built_by: str = ""


def _rows_from(before: Built | None, now: integrate.PartPrint, published: str | None) -> str:
    """The published run, when it built the part from the same context as now (a record
    without context, from before rows were reused, never matches)."""
    same = before is not None and bool(now.context) and before.context == now.context
    return published if same and published is not None else ""


def _fingerprint_frame(prints: dict[str, Built]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"part": list(prints),
                             "fingerprint": [b.fingerprint for b in prints.values()],
                             "judged_after": [b.judged[0] for b in prints.values()],
                             "judged_until": [b.judged[1] for b in prints.values()],
                             "context": [b.context for b in prints.values()],
                             "rows_from": [b.rows_from for b in prints.values()],
                             "built_by": [b.built_by for b in prints.values()]},
                            geometry=[None] * len(prints), crs=4490)


def _built_from(staging: StagingStore, run_id: str) -> dict[str, Built]:
    found = staging.read(run_id, BUILT_FROM)
    if not found or BUILT_FROM not in found:
        return {}  # a run staged before partitions were recorded: everything is built
    frame = found[BUILT_FROM]
    if "judged_until" not in frame.columns:  # recorded before intervals: built again
        return {}
    # context and rows_from: missing in runs staged before rows were reused (rebuilt whole);
    # built_by: before publish compared parts by builder (every part compared)
    later = ("context", "rows_from", "built_by")
    frame = frame.assign(**{c: "" for c in later if c not in frame.columns})
    text = frame.astype({c: str for c in ("part", "fingerprint", "judged_after",
                                          "judged_until", *later)}
                        ).replace({"None": "", "nan": ""})
    return {row.part: Built(row.fingerprint, (row.judged_after, row.judged_until),
                            row.context, row.rows_from, row.built_by)
            for row in text.itertuples()}


def integrate_and_publish(settings: Settings, wh: Warehouse, when: datetime | None = None,
                          full: bool = False, jobs: int = 1,
                          ahead: inputs_cache.Prefetch | None = None,
                          recorded: Callable[[], object] | None = None) -> dict[str, int]:
    """Rebuild the partitions whose inputs changed since the published run (every one when
    `full`), take the others from it, and swap the merged layers in: the same steps as the
    Airflow DAG, in one process (the counties in `jobs` forked workers), with the inputs read
    once and kept in memory; those of them read `ahead` (`inputs_cache.Prefetch`) taken from
    there where still current. `recorded` returns once what the run's loads changed is
    recorded, if that is done elsewhere (`runner.run_all`): the county assessment reads it.

    Where the plan read part of the farmland (a day's work orders, a county's parcels), the
    county assessment is made beside the build (`_assessed`: it reads no partition), on the
    core the build leaves (at 1x, a county's parcels sent again: 1.2 s of the publish, which
    waited for it); a run that read everything makes it in publish, after the farmland is let
    go, as that is when the run holds the least. Beside the build too, what the views read of
    the partitions the run takes over unchanged (at 1x, a county's parcels sent again: 69 of
    72, read for 3 s of the publish, which now reads the 3 built only)."""
    staged = store(settings, wh)
    run_id = "cli-" + datetime.now(LOCAL_TZ).strftime("%Y%m%dT%H%M%S%f")
    # each stage in the runs' ledger as it ends (`yitu status --runs`), the read as "plan"
    cost = Stages("integration", sink=runlog.recorder(wh, run_id, rename=CLI_STAGES))
    with cost.stage("integrate.read") as read:
        try:
            run, inputs, codes, register, staged_register, partial = _plan(
                wh, run_id, None, when, staged, full, keep_inputs=False, ahead=ahead)
        finally:
            if ahead is not None:  # its threads done before the counties' workers fork
                ahead.close()
        read["rows"] = sum(len(getattr(inputs, f)) for f in INPUT_ROLES)
        read["farmland"] = "part" if partial else "whole"  # (see inputs_cache)
    if inputs.counties.empty:
        log.warning("no counties loaded yet: nothing can be placed on the map")
        return {}
    # Publish reads no parcel or project (`publish_run`): they go before it, and with them
    # the most memory the run holds, as the layers are read in.
    light = replace(inputs, farmland_pbf=inputs.farmland_pbf.iloc[:0],
                    farmland_hsf=inputs.farmland_hsf.iloc[:0])
    early: list[Future[_Assessed]] = []
    taken: list[Future[dict[str, Frames]]] = []
    with ThreadPoolExecutor(2, "yitu-beside") as aside:

        def beside() -> None:  # once the counties' workers are forked: none inherits them
            kept = set(integrate.part_keys(codes)) - set(run.build) if run.build else set()
            if kept:  # what the views read of the partitions taken over, read now
                taken.append(aside.submit(_view_parts, staged, run_id, None, kept))
            if partial:
                early.append(aside.submit(_assessed, wh, staged, run, light, recorded))

        with cost.stage("integrate") as built:
            built["rows"], built["reused"] = _build_all(settings, wh, staged, run, inputs, jobs,
                                                        beside)
            if "registers" in inputs.__dict__ and not staged_register:  # for the next run
                staged.write(run_id, REGISTERS, _registers_part(inputs, register))
        del inputs
        with cost.stage("publish") as published:
            counts = publish_run(settings, wh, run, light, codes,
                                 early[0] if early else None, recorded,
                                 taken[0].result if taken else None)
            published["rows"] = sum(counts.values())
    cost.record["integrate"]["partitions"] = list(run.build)  # what the run built
    wh.set_meta(LAST_RUN_COST, json.dumps(cost.record))  # bench/province.py reads it
    runlog.describe(wh, run, staged, full)
    return counts


_FORKED: dict[str, integrate.Inputs] = {}  # the run's inputs, as forked workers inherit them


class Counts(NamedTuple):
    """Rows a build made (work orders: enriched), and rows it took over from the run that
    staged them (`integrate.build_part`): the work followed the change when `rows` is small."""

    rows: int = 0
    reused: int = 0

    def __add__(self, other: object) -> Counts:
        if not isinstance(other, Counts):
            return NotImplemented
        return Counts(self.rows + other.rows, self.reused + other.reused)


def _build_all(settings: Settings, wh: Warehouse, staged: StagingStore, run: IntegrationRun,
               inputs: integrate.Inputs, jobs: int,
               started: Callable[[], None] | None = None) -> Counts:
    """Every county the run builds, here or side by side in `jobs` workers forked from this
    process: they inherit the inputs (never pickled), the licence register and the spatial
    indexes made here once, and write their partitions to the staging store themselves. Each
    county's cost is in the runs' ledger, as an Airflow county task's is. `started` is
    called once no worker is forked any more (`forked_map`), before the builds end."""
    if jobs <= 1 or len(run.partitions) <= 1:
        if started is not None:
            started()
        # one county alone (its parcels sent again): its overlay over the cores instead
        # (more than one county here means one job: no thread to spare)
        with planar.threads(jobs):
            return sum((_build_county(wh, staged, run, county, inputs)
                        for county in run.partitions), Counts())
    if _matches_orders(run.build or integrate.part_keys(run.partitions)):
        inputs.registers.ready()  # made once, here, for every worker that matches orders
        integrate.row_ids(inputs, "complaints")  # (and every order's identity)
    # the same: each frame's rows grouped by county once, and the STRtrees the builds
    # query, the farmland's (points are looked up among parcels, never the other way)
    for name in INPUT_ROLES:
        inputs.positions(name)
    for name in ("farmland_pbf", "farmland_hsf"):
        getattr(inputs, name).sindex  # noqa: B018

    def size(code: str) -> int:
        return sum(len(inputs.positions(name).get(code, ())) for name in INPUT_ROLES)

    order = sorted(run.partitions, key=lambda c: -size(c))  # largest first
    _FORKED["inputs"] = inputs
    try:
        return sum(forked_map(_build_forked, [(settings, run, c) for c in order], jobs,
                              started), Counts())
    finally:
        _FORKED.clear()


def _build_forked(work: tuple[Settings, IntegrationRun, str]) -> Counts:
    """One county in a forked worker, through a warehouse connection of its own."""
    settings, run, county = work
    wh = open_warehouse(settings.warehouse_url)
    try:
        return _build_county(wh, store(settings, wh), run, county, _FORKED["inputs"])
    finally:
        wh.engine.dispose()


def _build_county(wh: Warehouse, staged: StagingStore, run: IntegrationRun, county: str,
                  inputs: integrate.Inputs) -> Counts:
    with runlog.stages(wh, run.run_id, county).stage("integrate") as built:
        counts = _build(staged, run, county, inputs)
        built["rows"], built["reused"] = counts
    return counts


def _build(staged: StagingStore, run: IntegrationRun, county: str,
           inputs: integrate.Inputs) -> Counts:
    """The county's partitions of the run, staged; a work-order part whose plan names a run
    to take rows from (`Built.rows_from`) is built from that run's staged part (on PostGIS,
    shared by every worker): see `_build_orders`."""
    keys = run.parts_of(county)
    plan = _built_from(staged, run.run_id) if _matches_orders(keys) else {}
    counts = Counts()
    for key in keys:
        if integrate.split_key(key)[1] == "complaints":
            source = plan.get(key, Built()).rows_from
            counts += _build_orders(staged, run, key, inputs,
                                    source if source != run.run_id else "")
            continue
        layers, _ = integrate.build_part(inputs, key, run.as_of)
        staged.write_partition(run.run_id, key, layers)
        counts += Counts(sum(len(gdf) for gdf in layers.values()))
    if counts.reused:
        log.info("integration run %s, county %s: %d rows built, %d taken over", run.run_id,
                 county, counts.rows, counts.reused)
    return counts


def _build_orders(staged: StagingStore, run: IntegrationRun, key: str,
                  inputs: integrate.Inputs, source: str) -> Counts:
    """A work-order part as segments (`integrate.segments`): the segments of `source`'s part
    whose rows all stay as they are, carried over unread; the other orders built into one
    new segment of this run, taking over what they can of the segments not kept."""
    carry, previous = segments.Carried((), np.zeros(0, dtype=bool)), None
    if source:
        names = staged.frame_names(source, key).get(key, [])
        heads = staged.read(source, key, columns={n: ROW_COLUMNS for n in names}) or {}
        carry = segments.carried(heads, integrate.own_rows(inputs, integrate.split_key(key)[0]),
                                 run.as_of)
        rest = [n for n in names if n not in carry.frames]
        found = staged.read(source, key, frames=rest) if rest else None
        previous = segments.joined(found or {}).get(ENRICHED)
    layers, reused = integrate.build_part(inputs, key, run.as_of, previous,
                                          carry.held if source else None)
    built = layers[ENRICHED]
    # a part all of whose rows are carried over gets no segment of this run
    frames = {segments.frame_of(ENRICHED, run.run_id): built} \
        if len(built) or not carry.frames else {}
    staged.write_partition(run.run_id, key, frames,
                           Carry(source, carry.frames) if carry.frames else None)
    return Counts(len(built) - reused, reused + carry.rows)


def integrate_partition(settings: Settings, wh: Warehouse, run: IntegrationRun,
                        county: str) -> str:
    """One county's partitions that the run builds into its staging store (a mapped Airflow
    task); where they went."""
    cost = runlog.stages(wh, run.run_id, county)  # the task's rows in the runs' ledger
    staged = store(settings, wh)
    with cost.stage("integrate.read") as read:
        inputs = _run_inputs(staged, wh, run, county)
        read["rows"] = sum(len(getattr(inputs, f)) for f in INPUT_ROLES)  # its share's
    with cost.stage("integrate") as built:
        built["rows"], built["reused"] = _build(staged, run, county, inputs)
    return f"{run.run_id}: {', '.join(run.parts_of(county))}"


def publish_run(settings: Settings, wh: Warehouse, run: IntegrationRun,
                inputs: integrate.Inputs | None = None,
                codes: list[str] | None = None, assessed: Future[_Assessed] | None = None,
                recorded: Callable[[], object] | None = None,
                taken: Callable[[], dict[str, Frames]] | None = None) -> dict[str, int]:
    """Merge a run's staged partitions, add the cross-county views, swap everything in.

    The partitions the run did not build were taken over from the published run when it was
    planned; a run for one county takes every other county's from it too, so what is
    published stays whole. The views spanning counties (enterprise_profile, region_summary)
    are rebuilt from the merged set, and the county assessment from the warehouse's ledger
    and quality records as they are now. The run's staged parts are kept until the next run
    publishes: publishing the same run again gives the same layers. Publish reads no parcel
    or project of `inputs`; given the run's partitions (`codes`), it needs none. The county
    assessment is `assessed`'s where it was made before (`integrate_and_publish`), else made
    here, after `recorded` returns (see there). `taken` returns what the views read of some
    of the run's partitions (`_view_parts`), read before: those are not read again.
    """
    staged = store(settings, wh)
    inputs = inputs if inputs is not None else _run_inputs(staged, wh, run)
    codes = codes if codes is not None else integrate.partitions(inputs)
    _complete_partitions(staged, run.run_id, integrate.part_keys(codes))
    # A family none of whose partitions was built is the published run's, as published:
    # where the warehouse keeps such layers in place, they are not published again.
    built = {integrate.split_key(k)[1] for k in run.build} if run.build else set(FAMILIES)
    same = [layer for family, names in FAMILIES.items() if family not in built for layer in names]
    same = same if staged.published() else []
    kept = kept_in_place(wh, same)
    # The views are made aside (`_made_views`) while the partitioned layers are published:
    # those are read, compared and sent on this thread, mostly waiting for the warehouse
    # (the PostGIS publish prepares them first), so the views' pandas work takes the other
    # core. At 1x, one county's parcels sent again: the views and the assessment were 4.9 s
    # of a 15 s publish, before any layer was sent.
    names = staged.frame_names(run.run_id)
    built_by = {k: b.built_by for k, b in _built_from(staged, run.run_id).items()}
    with ThreadPoolExecutor(1, "yitu-views") as aside:
        views = aside.submit(_made_views, wh, staged, run, inputs, names,
                             assessed.result if assessed is not None else
                             partial(_assessed, wh, staged, run, inputs, recorded), taken,
                             wh.compares_row_hashes)
        # (a partitioned layer left in place is named, never made: `publish_layers`)
        layers: dict[str, Layer] = {
            c.layer: _parted(staged, run.run_id, codes, c.layer, built_by, names)
            if c.layer in integrate.PARTITIONED and c.layer not in kept
            else _view_layer(views, c.layer, wh.compares_row_hashes) for c in all_layers()}
        swapped = publish_layers(wh, layers, unchanged=same)  # (empties `layers`)
        counts, _, answered, _ = views.result()
    log.info("integration run %s: published %s; %s as they were", run.run_id,
             ", ".join(swapped), ", ".join(sorted(set(counts) - set(swapped))) or "none")
    staged.mark_published(run.run_id)
    wh.set_meta(PUBLISHED_FROM, run.core_version)
    wh.set_meta(ASSESSED_FROM, answered)
    return counts


class _Views(NamedTuple):
    """What `_made_views` made: the rows of every layer, and the views to publish, each
    taken once by `_view` (and their row hashes, where made: by `_view_hashes`); the drops
    ledger's version the assessment was made at."""

    counts: dict[str, int]
    frames: dict[str, gpd.GeoDataFrame]
    answered: str
    hashes: dict[str, difference.Hashes]


class _Assessed(NamedTuple):
    """The county assessment, and the drops ledger's version read before it was made (an
    answer after that is assessed by the next publish: `publish_is_stale`)."""

    answered: str
    layer: gpd.GeoDataFrame


def _assessed(wh: Warehouse, staged: StagingStore, run: IntegrationRun,
              inputs: integrate.Inputs, recorded: Callable[[], object] | None
              ) -> _Assessed:
    """The county assessment of the warehouse as it is now, once `recorded` returns: it reads
    the permanent farmland's recorded changes (`pbf_areas`), which `runner.run_all` records
    in a process of its own beside the integration (before, the assessment could read them
    before they were there, and publish an assessment without the drop's area)."""
    if recorded is not None:
        recorded()
    answered = ledger_version(wh)  # before reading it: a later answer is assessed next time
    return _Assessed(answered, build_assessment(
        wh, inputs, run.as_of, _delivery_counts(wh, staged, run.run_id)))


def _made_views(wh: Warehouse, staged: StagingStore, run: IntegrationRun,
                inputs: integrate.Inputs, names: dict[str, list[str]],
                assessed: Callable[[], _Assessed],
                taken: Callable[[], dict[str, Frames]] | None = None,
                hashed: bool = False) -> _Views:
    """The views spanning counties (`integrate.finish`) with the county assessment
    (`assessed()`: made before, or made now after the views), and the rows of every layer.
    The views read only `integrate.VIEW_COLUMNS` of the partitioned layers, merged: every
    one is read so, its geometry never decoded, and let go here (a partitioned layer is
    published part by part, each read whole when its turn comes, so one is held at a time;
    one left in place is not made at all). The partitions `taken()` gives are read already.

    `hashed`: each view typed by its contract and its rows hashed here too, for a warehouse
    that compares rows by their hashes (`Warehouse.compares_row_hashes`): at 1x, a county's
    parcels sent again, the enterprise profile's 685 thousand rows took 2 s of the publish's
    own thread, which had published every partitioned layer before this one was made."""
    parts = taken() if taken is not None else {}
    parts |= _view_parts(staged, run.run_id, names, None if taken is None else
                         [key for key in names if key not in parts])
    views = integrate.finish(inputs, [parts[key] for key in sorted(parts)], run.as_of)
    answered, views[ASSESSMENT] = assessed()
    counts = {name: len(gdf) for name, gdf in views.items()}
    frames = {name: gdf for name, gdf in views.items() if name not in integrate.PARTITIONED}
    del views
    hashes = {}
    for name in frames if hashed else ():
        frames[name] = typed_frame(load_layer(name), frames[name])
        hashes[name] = difference.row_hashes(frames[name])
    return _Views(counts, frames, answered, hashes)


def _view_layer(views: Future[_Views], name: str, hashed: bool) -> Layer:
    """View `name` to publish, made by `_made_views`: with its row hashes where made."""
    if not hashed:
        return partial(_view, views, name)
    # read once, and again from the layer where publish falls back to whole: let go with it
    return Parted(("",), cache(partial(_view_part, views, name)), ("",),
                  hashed=partial(_view_hashes, views, name))


def _view_part(views: Future[_Views], name: str, _part: str) -> gpd.GeoDataFrame:
    return _view(views, name)


def _view_hashes(views: Future[_Views], name: str, _part: str) -> difference.Hashes | None:
    return views.result().hashes.get(name)


def _view(views: Future[_Views], name: str) -> gpd.GeoDataFrame:
    """Layer `name` as `_made_views` made it (waiting for it), let go once taken."""
    frames = views.result().frames
    if name not in frames:
        raise ValueError(f"refusing to publish: layer {name} was not made")
    return frames.pop(name)


def _view_parts(staged: StagingStore, run_id: str, names: dict[str, list[str]] | None,
                keys: Collection[str] | None = None) -> dict[str, Frames]:
    """The run's partitions (those of `keys`, when given) by key, in key order, each frame
    read only for `integrate.VIEW_COLUMNS` (a segment's for its layer's) and the segments of
    a layer joined (`segments.joined`); `names`: the frames of the run's partitions by key
    (`frame_names`), looked up when None."""
    if keys is not None and not keys:
        return {}
    names = staged.frame_names(run_id) if names is None else names
    wanted = {n: integrate.VIEW_COLUMNS[segments.split_frame(n)[0]]
              for key, found in names.items() if keys is None or key in keys for n in found
              if segments.split_frame(n)[0] in integrate.VIEW_COLUMNS}
    return {key: segments.joined(p)
            for key, p in staged.partitions_by_key(run_id, wanted, keys=keys).items()}


def _parted(staged: StagingStore, run_id: str, codes: list[str], layer: str,
            built_by: dict[str, str], names: dict[str, list[str]]) -> Parted:
    """One partitioned layer of the run, by partition (in key order, as `read_partitions`
    gives them), each read from the staging store when the warehouse's publish comes to it,
    with the run that built it (`Built.built_by`). A layer staged as segments
    (`integrate.segments`) is published by segment ("<key>@<run>"), each built by the run
    it is named after: a segment published before is not read again."""
    family = next(f for f, names in FAMILIES.items() if layer in names)
    keys = tuple(sorted(integrate.part_key(code, family) for code in codes))
    parts, runs = [], []
    for key in keys:
        found = [segments.split_frame(n) for n in names.get(key, [])]
        mine = sorted(seg for name, seg in found if name == layer and seg)
        if mine:
            parts += [segments.frame_of(key, seg) for seg in mine]
            runs += mine
        else:  # one frame, or none (a part missing its layer fails when read)
            parts.append(key)
            runs.append(built_by.get(key, ""))
    return Parted(tuple(parts), partial(_staged_part, staged, run_id, layer), tuple(runs))


def _staged_part(staged: StagingStore, run_id: str, layer: str, key: str) -> gpd.GeoDataFrame:
    part, segment = segments.split_frame(key)
    frame = segments.frame_of(layer, segment) if segment else layer
    found = staged.read(run_id, part, frames=[frame])
    if not found or frame not in found:
        raise UsageError(f"partition {part} of run {run_id} holds no {layer}: run the "
                         "integration for every county first")
    return found[frame]


DELIVERED = ".delivered"  # the run's counts of rows per delivery and county (the assessment's)


def _delivery_counts(wh: Warehouse, staged: StagingStore, run_id: str) -> pd.DataFrame:
    """`delivery_counts`, taking those of drops answered before the published run's publish
    from what it staged, and staged for the next run."""
    published = staged.published()
    found = staged.read(published, DELIVERED) if published and published != run_id else None
    known = found.get(DELIVERED) if found else None
    if known is not None and not set(COUNTS) <= set(known.columns):
        known = None
    counts = delivery_counts(wh, None if known is None else pd.DataFrame(known[COUNTS]))
    staged.write(run_id, DELIVERED, {DELIVERED: gpd.GeoDataFrame(
        counts, geometry=[None] * len(counts), crs=4490)})
    return counts


def _frames(inputs: integrate.Inputs, build: list[str], register: str = "",
            reused: bool = False) -> Lazy[str, Frames]:
    """The run's inputs as its tasks read them, by staged part: for each county it builds, the
    county's share (`inputs.shares`: no task reads the whole province); the licence register,
    once, when work orders are matched against it (unless taken over from the published run,
    `_reuse_registers`); and for publish (`finish`,
    `build_assessment`) the counties, licences and work orders, with only UNLOCATED's share
    of the farmland: from that, `integrate.partitions` still tells whether some farmland lies
    in no county, as from the whole."""
    codes = list(dict.fromkeys(integrate.split_key(k)[0] for k in build))
    shares = inputs_shares(inputs, [*codes, integrate.UNLOCATED])

    def frames(of: integrate.Inputs) -> Frames:
        return {f.name: getattr(of, f.name) for f in fields(of)}

    def share_of(code: str) -> Frames:
        return frames(shares[code])

    def for_publish() -> Frames:
        nowhere = shares[integrate.UNLOCATED]
        return frames(replace(inputs, farmland_pbf=nowhere.farmland_pbf,
                              farmland_hsf=nowhere.farmland_hsf))

    # Each made when it is written (`Lazy`), so the plan holds one county's share at a time.
    parts: dict[str, Callable[[], Frames]] = {
        share_part(code): partial(share_of, code) for code in codes}
    parts[INPUTS] = for_publish
    if _matches_orders(build) and not reused:
        parts[REGISTERS] = partial(_registers_part, inputs, register)
    return Lazy(parts)


def _run_inputs(staged: StagingStore, wh: Warehouse, run: IntegrationRun,
                county: str | None = None) -> integrate.Inputs:
    """The inputs the run planned with: for publish, the frames it reads; for `county`'s
    task, the county's share and (when it builds enriched work orders) the run's licence
    register, one snapshot. Planned without staging: read now."""
    if county is None:
        frames = staged.read_inputs(run.run_id)
        return integrate.Inputs(**frames) if frames is not None else integrate.load_inputs(wh)
    register = _matches_orders(run.parts_of(county))
    found = staged.read_parts(run.run_id, [share_part(county), *[REGISTERS] * register])
    if share_part(county) not in found:
        return integrate.load_inputs(wh)
    inputs = integrate.Inputs(**found[share_part(county)])
    if REGISTERS in found:
        inputs.with_registers(_registers_of(found[REGISTERS]["registers"]))
    return inputs


def _complete_partitions(staged: StagingStore, run_id: str, keys: list[str]) -> None:
    """Every partition of `keys` is staged for the run (taken from the published run when it
    was planned), or the run cannot be published whole."""
    have = set(staged.parts(run_id))
    missing = [k for k in keys if k not in have]
    if missing:
        raise UsageError(f"partition {missing[0]} was never integrated: run the integration "
                         "for every county first")
