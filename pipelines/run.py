"""The main job as plain functions: what `yitu run` and the Airflow DAGs both call."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines import integrate, ledger
from pipelines.config import Settings, UsageError
from pipelines.ingest.landing import detect_drops
from pipelines.ingest.process import process_drop, process_pending
from pipelines.ledger import DropRecord
from pipelines.publish import publish_layers
from pipelines.report import ReportPaths, write_report
from pipelines.warehouse import Warehouse, open_warehouse

log = logging.getLogger(__name__)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # the hotline's timestamps are local wall-clock times


def as_of() -> datetime:
    """The moment response-time deadlines are judged at: now, or YITU_AS_OF for a replay."""
    fixed = os.environ.get("YITU_AS_OF")
    if fixed:
        return datetime.fromisoformat(fixed).replace(tzinfo=None)
    return datetime.now(LOCAL_TZ).replace(tzinfo=None)


def warehouse(settings: Settings) -> Warehouse:
    wh = open_warehouse(settings.warehouse_url)
    wh.ensure_ready()
    return wh


@dataclass
class RunSummary:
    drops: list[DropRecord] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)
    report: ReportPaths | None = None


def ingest(settings: Settings, dataset: str | None = None,
           wh: Warehouse | None = None) -> list[DropRecord]:
    wh = wh or warehouse(settings)
    detect_drops(settings, wh, dataset)
    return process_pending(settings, wh, dataset)


def integrate_and_publish(settings: Settings, wh: Warehouse | None = None) -> dict[str, int]:
    """Rebuild every published layer from the current core data and swap them in."""
    wh = wh or warehouse(settings)
    inputs = integrate.load_inputs(wh)
    if inputs.counties.empty:
        log.warning("no admin_divisions loaded yet: nothing can be placed on the map")
        return {}
    # In one process the unpartitioned build is faster and gives the same layers (tested);
    # Airflow fans the same work out by county with integrate_partition/publish_run.
    layers = integrate.integrate_unpartitioned(inputs, as_of())
    publish_layers(wh, layers)
    return {name: len(gdf) for name, gdf in layers.items()}


def integrate_partition(settings: Settings, run_id: str, county: str) -> str:
    """One county partition into the run's staging folder (a mapped Airflow task)."""
    wh = warehouse(settings)
    inputs = integrate.load_inputs(wh)
    out = integrate.write_partition(settings.staging / run_id, county,
                                    integrate.integrate_county(inputs, county, as_of()))
    return str(out)


def county_partitions(settings: Settings, county: str | None = None) -> list[str]:
    """Every partition, or only `county` (a manual run for one county)."""
    codes = integrate.partitions(integrate.load_inputs(warehouse(settings)))
    if county is None:
        return codes
    if county not in codes:
        raise UsageError(f"unknown county partition {county!r}; known: {', '.join(codes)}")
    return [county]


# staging/<this> names the run folder the layers now published were built from.
PUBLISHED_RUN = "published.run"


def publish_run(settings: Settings, run_id: str, county: str | None = None) -> dict[str, int]:
    """Merge a run's staged partitions, add the cross-county views, swap everything in.

    A run for one county takes every other county's partition from the run the published
    layers were built from, so what is published stays whole; the views spanning counties
    (enterprise_profile, region_summary) are rebuilt from the merged set. The run's folder is
    kept until the next run publishes: publishing the same run again gives the same layers.
    """
    wh = warehouse(settings)
    inputs = integrate.load_inputs(wh)
    folder = settings.staging / run_id
    if county is not None:
        _complete_partitions(folder, _published_folder(settings.staging),
                             integrate.partitions(inputs))
    layers = integrate.finish(inputs, integrate.read_partitions(folder), as_of())
    publish_layers(wh, layers)
    _remember_published(settings.staging, folder)
    return {name: len(gdf) for name, gdf in layers.items()}


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


def reprocess(settings: Settings, drop_id: str, wh: Warehouse | None = None) -> DropRecord:
    """Answer a drop already in raw/ again, e.g. after a reader fix or a contract change.

    Only a drop that changed nothing in core qualifies (rejected, or still pending), and only
    while no later drop of its dataset has loaded: loading it would replace newer data.
    A loaded drop is corrected by sending a corrected file."""
    wh = wh or warehouse(settings)
    try:
        rec = ledger.get_drop(wh, drop_id)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from exc
    if rec.state not in ("pending", "rejected"):
        raise UsageError(f"drop {drop_id} is {rec.state}: only a rejected or pending drop is "
                         "processed again; send a corrected file instead")
    newer = [d.drop_id for d in ledger.list_drops(wh, state="loaded", dataset=rec.dataset)
             if d.received_at > rec.received_at]
    if newer:
        raise UsageError(f"drop {drop_id} is older than loaded drop(s) {', '.join(newer)}: "
                         "loading it now would replace newer data")
    if rec.state == "rejected":
        fresh = DropRecord(drop_id=rec.drop_id, dataset=rec.dataset, file=rec.file,
                           sha256=rec.sha256, size_bytes=rec.size_bytes, raw_path=rec.raw_path,
                           received_at=rec.received_at)  # pending, no outcome
        with wh.engine.begin() as conn:
            ledger.save_outcome(conn, wh, fresh)
    log.info("drop %s %s %s: processed again (was %s)", drop_id, rec.dataset, rec.file,
             rec.state)
    return process_drop(settings, wh, drop_id)


def report(settings: Settings, out_dir: Path | None = None,
           wh: Warehouse | None = None) -> ReportPaths:
    return write_report(wh or warehouse(settings), out_dir or settings.reports)


def run_all(settings: Settings, dataset: str | None = None) -> RunSummary:
    wh = warehouse(settings)  # opened and made ready once for the whole run
    summary = RunSummary(drops=ingest(settings, dataset, wh))
    changed = any(d.state == "loaded" for d in summary.drops)
    if changed or not wh.published_layers():
        summary.published = integrate_and_publish(settings, wh)
    summary.report = report(settings, wh=wh)
    return summary


def status(settings: Settings) -> list[DropRecord]:
    return ledger.list_drops(warehouse(settings))
