"""An integration run: its state made once (`IntegrationRun`: run id, the moment deadlines are
judged at, the partitions) and passed to every partition and to publish."""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pipelines import integrate
from pipelines.config import Settings, UsageError
from pipelines.integrate.inputs import INPUT_ROLES, read_inputs, save_inputs
from pipelines.publish.layers import publish_layers
from pipelines.runner.metrics import Stages
from pipelines.warehouse import Warehouse, ledger

log = logging.getLogger(__name__)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the hotline's timestamps are local wall-clock times
# staging/<this> names the run folder the layers now published were built from.
PUBLISHED_RUN = "published.run"
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


INPUTS = ".inputs"  # staging/<run>/.inputs/: the run's inputs, read and located once


def plan_run(wh: Warehouse, run_id: str, county: str | None = None,
             when: datetime | None = None, staging: Path | None = None) -> IntegrationRun:
    """Every partition, or only `county` (a manual run for one county). With `staging`, the
    inputs are read from the warehouse and located here, once, for every task of the run."""
    version = core_version(wh)  # before the inputs: a load after this is published next time
    inputs = integrate.load_inputs(wh)
    if staging is not None:
        save_inputs(inputs, staging / run_id / INPUTS)
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
                        county: str) -> Path:
    """One county partition into the run's staging folder (a mapped Airflow task)."""
    cost = Stages(f"integration {run.run_id} partition {county}")
    with cost.stage("integrate.read"):
        inputs = _run_inputs(settings, wh, run)
    with cost.stage("integrate") as built:
        layers = integrate.integrate_county(inputs, county, run.as_of)
        built["rows"] = sum(len(gdf) for gdf in layers.values())
    return integrate.write_partition(settings.staging / run.run_id, county, layers)


def publish_run(settings: Settings, wh: Warehouse, run: IntegrationRun) -> dict[str, int]:
    """Merge a run's staged partitions, add the cross-county views, swap everything in.

    A run for one county takes every other county's partition from the run the published
    layers were built from, so what is published stays whole; the views spanning counties
    (enterprise_profile, region_summary) are rebuilt from the merged set. The run's folder is
    kept until the next run publishes: publishing the same run again gives the same layers.
    """
    inputs = _run_inputs(settings, wh, run)
    folder = settings.staging / run.run_id
    if run.county is not None:
        _complete_partitions(folder, _published_folder(settings.staging),
                             integrate.partitions(inputs))
    layers = integrate.finish(inputs, integrate.read_partitions(folder), run.as_of)
    publish_layers(wh, layers)
    _remember_published(settings.staging, folder)
    wh.set_meta(PUBLISHED_FROM, run.core_version)
    return {name: len(gdf) for name, gdf in layers.items()}


def _run_inputs(settings: Settings, wh: Warehouse, run: IntegrationRun) -> integrate.Inputs:
    """The inputs the run planned with, or (planned without staging) read now."""
    saved = settings.staging / run.run_id / INPUTS
    return read_inputs(saved) if saved.is_dir() else integrate.load_inputs(wh)


def _published_folder(staging: Path) -> Path | None:
    pointer = staging / PUBLISHED_RUN
    return staging / pointer.read_text("utf-8").strip() if pointer.exists() else None


def _complete_partitions(folder: Path, published: Path | None, codes: list[str]) -> None:
    for code in codes:
        if (folder / code).is_dir():
            continue
        if published is None or not (published / code).is_dir():
            raise UsageError(f"partition {code} was never integrated: run the integration "
                             "for every county first")
        tmp = folder / f".{code}.copy"
        shutil.rmtree(tmp, ignore_errors=True)
        # Hard links, not copies: partitions are written whole and renamed, never rewritten.
        shutil.copytree(published / code, tmp, copy_function=os.link)
        tmp.rename(folder / code)


def _remember_published(staging: Path, folder: Path) -> None:
    """Point at `folder` as the published partitions and forget older runs' folders."""
    tmp = staging / f".{PUBLISHED_RUN}.tmp"
    tmp.write_text(folder.name, encoding="utf-8")
    tmp.replace(staging / PUBLISHED_RUN)  # atomic: the pointer is old or new, never half
    for other in staging.iterdir():
        if other.is_dir() and other != folder and not other.name.startswith("."):
            shutil.rmtree(other, ignore_errors=True)
