"""The real thing: Airflow's scheduler, dag-processor, triggerer and api-server on this machine
(LocalExecutor, PostgreSQL metadata database), department files dropped into the landing zone,
and the DAGs triggering and finishing by themselves; their state read through the REST API.

Prints the time from the last .ready marker to the published layers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.integration.airflow_services import INGEST, Airflow, airflow_services, all_finished
from tests.integration.test_dag_docs import assert_documented_through_the_api

DEADLINE = 900.0  # seconds for the whole flow (a busy 2-core machine) before the test gives up


@pytest.fixture
def airflow(postgis_server: str, postgis_url: str, tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Airflow]:
    with airflow_services(postgis_server, postgis_url, tmp_path, request, {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",  # two cores: four task processes at most
    }) as af:
        yield af


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_drops_trigger_ingest_and_integration_by_themselves(
        airflow: Airflow, sample_dir: Path, postgis_url: str) -> None:
    af = airflow
    af.login()
    af.dags_parsed(INGEST)
    assert_documented_through_the_api(af)  # doc_md, description, owners of every DAG and task
    # Dropped now, the files are announced when each watcher starts in the triggerer.

    from pipelines.config import Settings
    from pipelines.landing.drops import drop_file

    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    yitu = Settings(home=Path(af.env["YITU_HOME"]), warehouse_url=af.env["YITU_WAREHOUSE_URL"],
                    pii_key=None)
    markers = []
    for f in manifest["files"]:  # what `yitu drop` does: the file, then its .ready marker
        drop_file(yitu, sample_dir / f["file"], f["dataset"])
        markers.append(datetime.now(UTC))  # the marker was written just now

    runs = af.wait("the DAGs to run by themselves",
                   lambda: all_finished(af, [*INGEST, "yitu_integrate"]), DEADLINE)

    # Read through the REST API: every run succeeded and was started by an asset event.
    for dag_id, dag_runs in runs.items():
        assert [r["state"] for r in dag_runs] == ["success"] * len(dag_runs), (dag_id, dag_runs)
        assert {r["run_type"] for r in dag_runs} == {"asset_triggered"}, (dag_id, dag_runs)
    final = runs["yitu_integrate"][-1]
    tis = af.task_instances("yitu_integrate", final["dag_run_id"])
    assert {ti["state"] for ti in tis} == {"success"}
    # A late ingest's asset event may start one more run after the one that built the
    # counties: it takes every partition over (one job building nothing). The counties were
    # built by some run of them.
    built = max(sum(ti["task_id"] == "integrate_county" for ti in af.task_instances(
        "yitu_integrate", r["dag_run_id"])) for r in runs["yitu_integrate"])
    assert built >= 19
    published_at = _when(next(ti["end_date"] for ti in tis if ti["task_id"] == "publish"))

    status = json.loads(subprocess.run([sys.executable, "-m", "pipelines.cli", "status",
                                        "--json"], env=af.env, check=True, capture_output=True,
                                       text=True).stdout)
    assert {d["dataset"]: (d["state"], d["rows_loaded"]) for d in status} == {
        f["dataset"]: ("loaded", f["expected_loaded"]) for f in manifest["files"]}

    from sqlalchemy import create_engine, text

    engine = create_engine(postgis_url)
    with engine.connect() as conn:
        regions = conn.execute(text("SELECT count(*) FROM publish.region_summary")).scalar_one()
        placed = conn.execute(text("SELECT count(*) FROM publish.complaints_enriched")).scalar_one()
    engine.dispose()
    assert regions == 24
    assert placed == next(f["expected_loaded"] for f in manifest["files"]
                          if f["dataset"] == "complaints")

    first, last = min(markers), max(markers)
    print(f"\nready marker -> published layers: {(published_at - last).total_seconds():.1f} s "
          f"after the last marker, {(published_at - first).total_seconds():.1f} s after the "
          f"first; ingest runs {sum(len(runs[d]) for d in INGEST)}, integrate runs "
          f"{len(runs['yitu_integrate'])}")
