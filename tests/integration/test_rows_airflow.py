"""The Airflow route reuses work-order rows as the CLI does: its county tasks
(`tasks.integrate_county` -> `runner.integrate_partition`) read the published run's staged part
from the staging store and enrich only the rows that changed; what they publish is a full
rebuild's. On the folder store beside the GeoPackage (test_incremental.py runs the CLI on
both warehouses); on PostGIS, one county's parcels sent again, read and shared out where they
changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from tests.integration.test_incremental import _complaints, _pbf

NEXT_DAY = "2026-11-17T12:00:00"  # a day after the tests' YITU_AS_OF: a few deadlines pass


def _airflow_run(dag_run: str) -> str:
    """plan, every county task, publish, as the integration DAG runs them; the run id."""
    from pipelines.orchestration import tasks

    jobs = tasks.plan(dag_run)
    for job in jobs:
        tasks.integrate_county(job)
    tasks.publish(jobs)
    return str(jobs[0]["run"]["run_id"])


def test_county_tasks_enrich_only_the_rows_that_changed(
        yitu_env: Path, sample_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import runner
    from pipelines.runner import runlog
    from tests.digests import published_digest

    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    runner.ingest(s)
    _airflow_run("first-1")
    wh = runner.warehouse(s)
    orders = len(wh.read_published("complaints_enriched"))

    monkeypatch.setenv("YITU_AS_OF", NEXT_DAY)
    run_id = _airflow_run("next-2")
    by_tasks = published_digest(wh)
    run = next(r for r in runlog.list_runs(wh) if r["run_id"] == run_id)
    built = run["built"]
    enriched = sum(st["rows"] or 0 for st in run["stages"] if st["stage"] == "integrate")
    # only work-order parts with an order falling due were rebuilt, and within them only
    # those orders enriched
    assert built and all(k.endswith("/complaints") for k in built)
    assert 0 < enriched < orders / 10, (enriched, orders)

    runner.run_all(s, full=True)
    assert published_digest(wh) == by_tasks

    # a day's new orders: the plan reads no project and only the parcels under the new
    # orders, shares them out, and the county tasks enrich the new orders from them
    dataset, path = _complaints(sample_dir, tmp_path)
    drop_file(s, path, dataset)
    runner.ingest(s, dataset)
    read = _reads(monkeypatch)
    run_id = _airflow_run("day-3")
    assert read == [True]
    by_tasks = published_digest(wh)
    run = next(r for r in runlog.list_runs(wh) if r["run_id"] == run_id)
    assert run["built"] and all(k.endswith("/complaints") for k in run["built"])
    runner.run_all(s, full=True)
    assert published_digest(wh) == by_tasks
    wh.engine.dispose()


def test_county_tasks_build_a_resent_county_from_its_zoned_share(
        postgis_url: str, yitu_env: Path, sample_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """One county's parcels sent again, through the Airflow route on PostGIS: the plan reads
    the farmland of the counties it reaches only (`inputs_cache._zoned`), stages their shares
    (marked `ZONE_READ`) for their county tasks in the staging schema, and what is published
    equals a full rebuild."""
    from pipelines import runner
    from tests.digests import published_digest

    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    runner.ingest(s)
    _airflow_run("first-1")
    dataset, path = _pbf(sample_dir, tmp_path)
    drop_file(s, path, dataset)
    runner.ingest(s, dataset)
    zones: list[tuple[str, ...]] = []
    read = _reads(monkeypatch, zones)
    _airflow_run("resend-2")
    assert read == [True] and len(zones[0]) >= 1, zones
    wh = runner.warehouse(s)
    by_tasks = published_digest(wh)
    runner.run_all(s, full=True)
    assert published_digest(wh) == by_tasks
    wh.engine.dispose()


def _reads(monkeypatch: pytest.MonkeyPatch,
           zones: list[tuple[str, ...]] | None = None) -> list[bool]:
    """Whether each read of a run's inputs left the farmland unread (`Read.partial`), and
    into `zones` the counties whose farmland it read (`Read.zones`)."""
    from pipelines.runner import inputs_cache

    partial: list[bool] = []
    real = inputs_cache.load_inputs

    def spy(*args: Any, **kwargs: Any) -> inputs_cache.Read:
        read = real(*args, **kwargs)
        partial.append(read.partial)
        if zones is not None:
            zones.append(read.zones)
        return read

    monkeypatch.setattr(inputs_cache, "load_inputs", spy)
    return partial
