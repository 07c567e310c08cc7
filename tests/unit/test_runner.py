"""The one runner: the CLI and the Airflow tasks answer drops in the same order, an integration
run's state is made once, and the warehouse is set up once, not by every task."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from tests.digests import published_digest

AS_OF = "2026-11-16T12:00:00"


def test_the_counties_come_first_for_every_dataset_placed_on_them() -> None:
    from pipelines.runner.drops import answer_order

    assert answer_order(["licenses"]) == ["admin_divisions", "licenses"]  # points
    assert answer_order(["farmland_hsf"]) == ["admin_divisions", "farmland_hsf"]  # XZQDM check
    assert answer_order(["admin_divisions"]) == ["admin_divisions"]
    assert answer_order(["complaints", "admin_divisions"]) == ["admin_divisions", "complaints"]


def _drop_late_counties(sample_dir: Path, dataset: str, file: str) -> None:
    """The dataset's file arrives before the counties it is placed on."""
    s = settings()
    drop_file(s, sample_dir / file, dataset)
    drop_file(s, sample_dir / "admin_divisions.gpkg", "admin_divisions")


@pytest.mark.parametrize(("dataset", "file"), [("farmland_hsf", "farmland_hsf.gpkg")])
def test_cli_and_airflow_answer_pending_drops_in_the_same_order(
        dataset: str, file: str, sample_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import runner
    from pipelines.orchestration import tasks
    from tests.conftest import set_yitu_env

    set_yitu_env(monkeypatch, tmp_path / "cli", None)
    _drop_late_counties(sample_dir, dataset, file)
    cli = runner.ingest(settings(), dataset)
    by_cli = [(d.dataset, d.state, d.notes.get("skipped_checks")) for d in cli]

    set_yitu_env(monkeypatch, tmp_path / "airflow", None)
    _drop_late_counties(sample_dir, dataset, file)
    tasks.detect(dataset)
    answered = tasks.load(dataset)
    s = settings()
    wh = runner.warehouse(s)
    from pipelines.warehouse.ledger import get_drop

    by_airflow = [(d.dataset, d.state, d.notes.get("skipped_checks")) for d in
                  (get_drop(wh, a["drop_id"]) for a in answered)]
    assert [d for d, _, _ in by_cli] == ["admin_divisions", dataset]
    # the same answers: the county check ran in both, on the counties loaded just before
    assert by_airflow == by_cli
    assert all(skipped is None for _, _, skipped in by_cli)


def test_an_integration_run_is_judged_at_one_moment(yitu_env: Path, sample_dir: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Every partition of a run uses the run's `as_of`, whenever its task happens to run."""
    from pipelines import integrate, runner
    from pipelines.integrate import segments
    from pipelines.orchestration import tasks
    from pipelines.runner.integration import store

    s = settings()
    for name, file in (("admin_divisions", "admin_divisions.gpkg"),
                       ("complaints", "complaints.csv")):
        drop_file(s, sample_dir / file, name)
    runner.ingest(s)
    jobs = tasks.plan("run-1")
    assert len({str(j["run"]) for j in jobs}) == 1  # one state, handed to every partition
    assert jobs[0]["run"]["as_of"] == AS_OF
    job = next(j for j in jobs if j["county"] == "460105")
    monkeypatch.setenv("YITU_AS_OF", "2030-01-01T00:00:00")  # a task started much later
    tasks.integrate_county(job)
    wh = runner.warehouse(s)
    run_id = job["run"]["run_id"]
    part = store(s, wh).read(run_id, "460105/complaints")
    assert part is not None
    staged = segments.joined(part)["complaints_enriched"]
    at_plan = integrate.integrate_county(integrate.load_inputs(wh), "460105",
                                         datetime.fromisoformat(AS_OF))["complaints_enriched"]
    later = integrate.integrate_county(integrate.load_inputs(wh), "460105",
                                       datetime(2030, 1, 1))["complaints_enriched"]
    columns = ["order_id", "proposal_within_1wd", "solved_within_15wd"]
    assert not at_plan[columns].astype(str).equals(later[columns].astype(str))  # it matters
    assert staged[columns].astype(str).equals(at_plan[columns].astype(str).reset_index(drop=True))


def test_the_warehouse_is_set_up_once_not_by_every_task(home: Path) -> None:
    from pipelines import runner

    s = settings()
    wh = runner.warehouse(s)  # new: set up now
    assert wh.meta("setup") == runner.setup_digest()
    with wh.engine.begin() as conn:  # a table the setup creates, dropped behind its back
        conn.execute(text(f"DROP TABLE {wh.tables.pbf_changes.fullname}"))
    runner.warehouse(s)  # set up already: only the marker is read, nothing is created
    with wh.engine.connect() as conn:
        assert not wh.engine.dialect.has_table(conn, wh.tables.pbf_changes.name,
                                               schema=wh.tables.pbf_changes.schema)
    runner.init(s)  # `yitu init` sets it up again, whatever the marker says
    with wh.engine.connect() as conn:
        assert wh.engine.dialect.has_table(conn, wh.tables.pbf_changes.name,
                                           schema=wh.tables.pbf_changes.schema)
    assert os.environ["YITU_HOME"] == str(home)


def test_the_airflow_route_reads_once_and_publishes_what_the_cli_does(
        sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from airflow.sdk.exceptions import AirflowSkipException

    from pipelines import integrate, runner
    from pipelines.orchestration import tasks
    from pipelines.runner import inputs_cache
    from tests.conftest import set_yitu_env

    files = json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]
    set_yitu_env(monkeypatch, tmp_path / "cli", None)
    for f in files:
        drop_file(settings(), sample_dir / f["file"], f["dataset"])
    runner.run_all(settings())
    by_cli = published_digest(runner.warehouse(settings()))

    set_yitu_env(monkeypatch, tmp_path / "airflow", None)
    for f in files:
        drop_file(settings(), sample_dir / f["file"], f["dataset"])
    for f in files:
        tasks.detect(f["dataset"])
        with contextlib.suppress(AirflowSkipException):  # nothing loaded is an answer too
            tasks.load(f["dataset"])
    reads: list[int] = []  # the inputs read from the warehouse: fresh, or with the cache
    real = integrate.load_inputs
    monkeypatch.setattr(integrate, "load_inputs", lambda wh: reads.append(1) or real(wh))
    cached = inputs_cache.load_inputs
    monkeypatch.setattr(inputs_cache, "load_inputs",
                        lambda *a, **k: reads.append(1) or cached(*a, **k))
    jobs = tasks.plan("manual__1")
    for job in jobs:
        tasks.integrate_county(job)
    tasks.publish(jobs)
    assert len(reads) == 1  # read from the warehouse and located once for the whole run
    assert published_digest(runner.warehouse(settings())) == by_cli
    assert by_cli["complaints_enriched"][0] > 0


def test_every_drop_and_run_records_what_each_stage_cost(yitu_env: Path,
                                                         sample_dir: Path) -> None:
    import json

    from pipelines import runner
    from pipelines.runner.integration import LAST_RUN_COST

    s = settings()
    drop_file(s, sample_dir / "admin_divisions.gpkg", "admin_divisions")
    drop_file(s, sample_dir / "farmland_hsf.gpkg", "farmland_hsf")
    summary = runner.run_all(s)
    for drop in runner.status(s):  # as `yitu status --json` shows them
        stages = drop.notes["stages"]
        assert list(stages) == ["read", "validate", "load"], drop.dataset
        assert stages["read"]["rows"] == drop.rows_read
        assert stages["load"]["rows"] == drop.rows_loaded
        for cost in stages.values():
            assert cost["seconds"] >= 0 and cost["cpu_seconds"] >= 0
            assert cost["peak_rss_mb"] > 50  # a Python process with the geo stack loaded
    run = json.loads(runner.warehouse(s).meta(LAST_RUN_COST) or "{}")
    assert list(run) == ["integrate.read", "integrate", "publish"]
    assert run["publish"]["rows"] == sum(summary.published.values())
    assert runner.run_all(s).published == {}  # nothing changed: nothing rebuilt
    assert runner.run_all(s, full=True).published == summary.published  # --full rebuilds
