"""An integration run: its state made once (`IntegrationRun`: run id, the moment deadlines are
judged at, the partitions) and passed to every partition and to publish. Its tasks hand each
other the inputs and the partitions' layers through the warehouse's staging store
(`pipelines.warehouse.staging`: the PostGIS warehouse itself, or a folder beside the embedded
one), so they may run on any worker."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines import integrate
from pipelines.config import Settings, UsageError
from pipelines.integrate.inputs import INPUT_ROLES
from pipelines.publish.layers import publish_layers
from pipelines.runner.metrics import Stages
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.staging import Frames, StagingStore, staging_store

log = logging.getLogger(__name__)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the hotline's timestamps are local wall-clock times
PUBLISHED_FROM = "published_from"  # audit.meta: the core version the published layers show
NOTHING_LOADED = "0:-"
LAST_RUN_COST = "last_integration_cost"  # audit.meta: per-stage cost of the last integration


def core_version(wh: Warehouse) -> str:
    """What core holds, as one string: the loaded drops, counted, and the last one. Loaded
    drops change core and nothing else does, so equal versions mean equal core data."""
    loaded = ledger.list_drops(wh, state="loaded")
    last = max(loaded, key=lambda d: (d.processed_at or d.received_at, d.drop_id), default=None)
    return f"{len(loaded)}:{last.drop_id}" if last else NOTHING_LOADED


def publish_is_stale(wh: Warehouse, version: str) -> bool:
    """Whether the published layers show older core data than `version` (nothing loaded yet:
    nothing to publish)."""
    return version != NOTHING_LOADED and wh.meta(PUBLISHED_FROM) != version


def as_of() -> datetime:
    """The moment response-time deadlines are judged at: now, or YITU_AS_OF for a replay."""
    fixed = os.environ.get("YITU_AS_OF")
    if fixed:
        return datetime.fromisoformat(fixed).replace(tzinfo=None)
    return datetime.now(LOCAL_TZ).replace(tzinfo=None)


@dataclass(frozen=True)
class IntegrationRun:
    """Made once per run and handed to every task: partitions of one run are built against
    one `as_of`, and publish merges exactly the partitions the run planned."""

    run_id: str
    as_of: datetime
    partitions: tuple[str, ...]
    county: str | None = None  # a run for one county keeps the others' published partitions
    core_version: str = ""  # what core held when the run was planned (`core_version`)

    def as_xcom(self) -> dict[str, Any]:
        d = asdict(self)
        d["as_of"] = self.as_of.isoformat()
        d["partitions"] = list(self.partitions)
        return d

    @classmethod
    def from_xcom(cls, d: dict[str, Any]) -> IntegrationRun:
        return cls(run_id=str(d["run_id"]), as_of=datetime.fromisoformat(d["as_of"]),
                   partitions=tuple(d["partitions"]), county=d.get("county"),
                   core_version=str(d.get("core_version", "")))


def store(settings: Settings, wh: Warehouse) -> StagingStore:
    """Where the run's tasks stage inputs and partitions: chosen by the warehouse."""
    return staging_store(wh, settings.staging)


def plan_run(wh: Warehouse, run_id: str, county: str | None = None,
             when: datetime | None = None, staging: StagingStore | None = None
             ) -> IntegrationRun:
    """Every partition, or only `county` (a manual run for one county). With `staging`, the
    inputs are read from the warehouse and located here, once, for every task of the run."""
    version = core_version(wh)  # before the inputs: a load after this is published next time
    inputs = integrate.load_inputs(wh)
    if staging is not None:
        staging.save_inputs(run_id, _frames(inputs))
    codes = integrate.partitions(inputs)
    if county is not None and county not in codes:
        raise UsageError(f"unknown county partition {county!r}; known: {', '.join(codes)}")
    return IntegrationRun(run_id, when or as_of(), tuple([county] if county else codes), county,
                          version)


def integrate_and_publish(wh: Warehouse, when: datetime | None = None) -> dict[str, int]:
    """Rebuild every published layer from the current core data and swap them in."""
    cost = Stages("integration")
    with cost.stage("integrate.read") as read:
        inputs = integrate.load_inputs(wh)
        read["rows"] = sum(len(getattr(inputs, f)) for f in INPUT_ROLES)
    if inputs.counties.empty:
        log.warning("no counties loaded yet: nothing can be placed on the map")
        return {}
    # In one process the unpartitioned build is faster and gives the same layers (tested);
    # Airflow fans the same work out by county with integrate_partition/publish_run.
    with cost.stage("integrate") as built:
        layers = integrate.integrate_unpartitioned(inputs, when or as_of())
        built["rows"] = sum(len(gdf) for gdf in layers.values())
    with cost.stage("publish", built["rows"]):
        publish_layers(wh, layers)
    wh.set_meta(LAST_RUN_COST, json.dumps(cost.record))
    return {name: len(gdf) for name, gdf in layers.items()}


def integrate_partition(settings: Settings, wh: Warehouse, run: IntegrationRun,
                        county: str) -> str:
    """One county partition into the run's staging store (a mapped Airflow task); where it
    went."""
    cost = Stages(f"integration {run.run_id} partition {county}")
    staged = store(settings, wh)
    with cost.stage("integrate.read"):
        inputs = _run_inputs(staged, wh, run)
    with cost.stage("integrate") as built:
        layers = integrate.integrate_county(inputs, county, run.as_of)
        built["rows"] = sum(len(gdf) for gdf in layers.values())
    with cost.stage("integrate.stage", built["rows"]):
        return staged.write_partition(run.run_id, county, layers)


def publish_run(settings: Settings, wh: Warehouse, run: IntegrationRun) -> dict[str, int]:
    """Merge a run's staged partitions, add the cross-county views, swap everything in.

    A run for one county takes every other county's partition from the run the published
    layers were built from, so what is published stays whole; the views spanning counties
    (enterprise_profile, region_summary) are rebuilt from the merged set. The run's staged
    parts are kept until the next run publishes: publishing the same run again gives the same
    layers.
    """
    staged = store(settings, wh)
    inputs = _run_inputs(staged, wh, run)
    if run.county is not None:
        _complete_partitions(staged, run.run_id, integrate.partitions(inputs))
    layers = integrate.finish(inputs, staged.read_partitions(run.run_id), run.as_of)
    publish_layers(wh, layers)
    staged.mark_published(run.run_id)
    wh.set_meta(PUBLISHED_FROM, run.core_version)
    return {name: len(gdf) for name, gdf in layers.items()}


def _frames(inputs: integrate.Inputs) -> Frames:
    return {f.name: getattr(inputs, f.name) for f in fields(inputs)}


def _run_inputs(staged: StagingStore, wh: Warehouse, run: IntegrationRun) -> integrate.Inputs:
    """The inputs the run planned with, or (planned without staging) read now."""
    frames = staged.read_inputs(run.run_id)
    return integrate.Inputs(**frames) if frames is not None else integrate.load_inputs(wh)


def _complete_partitions(staged: StagingStore, run_id: str, codes: list[str]) -> None:
    """The partitions of `codes` the run did not build, from the published run."""
    have = set(staged.parts(run_id))
    published = staged.published()
    if published is not None and published != run_id and not have.issuperset(codes):
        staged.adopt(run_id, published, [c for c in codes if c not in have])
        have = set(staged.parts(run_id))
    for code in codes:
        if code not in have:
            raise UsageError(f"partition {code} was never integrated: run the integration "
                             "for every county first")
