"""Real Airflow: the DAG files import cleanly, pass ruff's AIR rules, and the DAGs run end to
end on PostGIS with dag.test(); the same DagRuns run again change nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.digests import table_digests

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
INGEST = ["yitu_ingest_admin_divisions", "yitu_ingest_farmland_pbf", "yitu_ingest_farmland_hsf",
          "yitu_ingest_licenses", "yitu_ingest_complaints"]
LAYERS = {"farmland_base_map", "farmland_conflicts", "licenses_on_farmland",
          "complaints_enriched", "enterprise_profile", "region_summary", "county_assessment"}

# dag.test() of several DagRuns in one process (Airflow is imported once); prints, per run,
# the DagRun state and every task instance's state (mapped ones as task_id[map_index]).
RUNNER = """
import json, sys
from datetime import datetime, timezone
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
out = []
for run in json.loads(sys.argv[2]):
    dag = bag.get_dag(run["dag_id"])
    when = datetime.fromisoformat(run["logical_date"]).replace(tzinfo=timezone.utc)
    dr = dag.test(run_after=when, logical_date=when, run_conf=run.get("conf"))
    tis = {(ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
           for ti in dr.get_task_instances()}
    out.append({"dag_id": dr.dag_id, "run_id": dr.run_id, "state": str(dr.state), "tasks": tis})
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Airflow with its own SQLite metadata database, migrated once for this module."""
    home = tmp_path_factory.mktemp("airflow")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def test_dagbag_imports_without_errors(airflow_env: dict[str, str]) -> None:
    code = ("from airflow.dag_processing.dagbag import DagBag; import json;"
            f"b = DagBag(dag_folder={str(ROOT / 'dags')!r});"
            "print(json.dumps({'errors': {k: str(v) for k, v in b.import_errors.items()},"
            " 'dags': sorted(b.dag_ids)}))")
    out = subprocess.run([sys.executable, "-c", code], env=airflow_env, check=True,
                         capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert result["dags"] == sorted([*INGEST, "yitu_integrate", "yitu_deliveries"])


def test_dag_files_follow_airflow_rules() -> None:
    ruff = str(Path(sys.executable).with_name("ruff"))
    proc = subprocess.run([ruff, "check", "--select", "AIR", "dags", "pipelines"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def dag_runs(runs: list[dict[str, Any]], env: dict[str, str]) -> list[dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "dags"), json.dumps(runs)],
                          env=env, capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result: list[dict[str, Any]] = json.loads(line.removeprefix("RESULT "))
    return result


def _digest(url: str) -> dict[str, tuple[int, str]]:
    """Per published layer: row count and a digest of every row's content (not its fid)."""
    found = table_digests(url, ("publish",), frozenset({"fid"}))
    return {name.removeprefix("publish."): digest for name, digest in found.items()}


def _core_versions(engine: Any) -> dict[str, int]:
    from sqlalchemy import text

    with engine.connect() as conn:
        return {ds: conn.execute(text(f"SELECT count(*) FROM core.{ds}")).scalar_one()
                for ds in ("admin_divisions", "farmland_pbf", "farmland_hsf", "licenses",
                           "complaints")}


def test_dags_run_end_to_end_on_postgis(airflow_env: dict[str, str], postgis_url: str,
                                        sample_dir: Path, tmp_path: Path) -> None:
    from sqlalchemy import create_engine, text

    env = {**airflow_env, "YITU_HOME": str(tmp_path / "home"), "YITU_WAREHOUSE_URL": postgis_url,
           "YITU_PII_KEY": "airflow-test-key-0123456789", "YITU_AS_OF": "2026-11-16T12:00:00"}
    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    for f in manifest["files"]:
        subprocess.run([sys.executable, "-m", "pipelines.cli", "drop", str(sample_dir / f["file"]),
                        "--dataset", f["dataset"]], env=env, check=True, capture_output=True)

    # The point datasets first: their ingest loads the counties they are placed on first.
    order = ["yitu_ingest_licenses", *[d for d in INGEST if d != "yitu_ingest_licenses"]]
    runs = [{"dag_id": d, "logical_date": "2026-11-16T01:00:00"} for d in order]
    runs.append({"dag_id": "yitu_integrate", "logical_date": "2026-11-16T02:00:00"})
    first = dag_runs(runs, env)
    assert [r["state"] for r in first] == ["success"] * len(runs), first
    by_dag = {r["dag_id"]: r for r in first}
    # admin_divisions was loaded by the licences run; its own run found nothing left to load.
    assert by_dag["yitu_ingest_licenses"]["tasks"]["load"] == "success"
    assert by_dag["yitu_ingest_admin_divisions"]["tasks"]["load"] == "skipped"
    for dag_id in INGEST[1:]:
        assert by_dag[dag_id]["tasks"]["load"] == "success"
    counties = [k for k in by_dag["yitu_integrate"]["tasks"] if k.startswith("integrate_county[")]
    assert len(counties) >= 19  # Hainan's county-level units, one mapped task each

    status = json.loads(subprocess.run([sys.executable, "-m", "pipelines.cli", "status",
                                        "--json"], env=env, check=True, capture_output=True,
                                       text=True).stdout)
    loaded = {d["dataset"]: d["rows_loaded"] for d in status}
    assert loaded == {f["dataset"]: f["expected_loaded"] for f in manifest["files"]}
    assert {d["state"] for d in status} == {"loaded"}

    engine = create_engine(postgis_url)
    published = _digest(postgis_url)
    core = _core_versions(engine)
    assert set(published) == LAYERS
    assert published["region_summary"][0] == 24
    complaints = next(f for f in manifest["files"] if f["dataset"] == "complaints")
    assert published["complaints_enriched"][0] == complaints["expected_loaded"]

    # The same DagRuns again: every drop is already answered (load skipped), the same layers.
    again = dag_runs(runs, env)
    assert [r["run_id"] for r in again] == [r["run_id"] for r in first]
    assert [r["state"] for r in again] == ["success"] * len(runs), again
    assert {r["tasks"]["load"] for r in again if r["dag_id"] in INGEST} == {"skipped"}
    assert _digest(postgis_url) == published
    assert _core_versions(engine) == core

    # One county by hand: only its partition is rebuilt, the published layers stay whole.
    county = "460106"
    one = dag_runs([{"dag_id": "yitu_integrate", "logical_date": "2026-11-16T03:00:00",
                     "conf": {"county": county}}], env)[0]
    assert one["state"] == "success", one
    assert [k for k in one["tasks"] if k.startswith("integrate_county")] == ["integrate_county[0]"]
    assert _digest(postgis_url) == published

    # A delivery overdue against its contract's cadence fails its check in Airflow.
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit.drops SET received_at = received_at - interval '9 days' "
                          "WHERE dataset = 'complaints'"))
    due = dag_runs([{"dag_id": "yitu_deliveries", "logical_date": "2026-11-16T04:00:00"}], env)[0]
    assert due["state"] == "failed"
    assert due["tasks"] == {"due_admin_divisions": "success", "due_farmland_pbf": "success",
                            "due_farmland_hsf": "success", "due_licenses": "success",
                            "due_complaints": "failed"}
    engine.dispose()
