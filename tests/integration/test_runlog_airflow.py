"""The Airflow route records its integration runs in the same ledger as the CLI: one row per
county task, the plan, publish and report, under the DagRun's id; each task's log ends with
its stage table. (A retried task replacing its row: tests/integration/test_runlog.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from tests.conftest import ROOT, set_yitu_env
from tests.integration.test_airflow import RUNNER, airflow_env  # noqa: F401  (fixture)

HAIKOU = ["460105", "460106", "460107", "460108"]  # four counties: four county tasks, quickly


def _published_rows(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as conn:
        tables = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'publish'"
                                   " AND tablename <> 'layer_styles'")).scalars().all()
        total = sum(conn.execute(text(f'SELECT count(*) FROM publish."{t}"')).scalar_one()
                    for t in tables)
    engine.dispose()
    return int(total)


def test_a_dag_run_records_each_county_task_and_the_publish(
        airflow_env: dict[str, str], postgis_url: str,  # noqa: F811
        sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines import runner
    from pipelines.cli import main

    set_yitu_env(monkeypatch, tmp_path / "home", postgis_url)
    env = {**airflow_env, **{k: v for k, v in os.environ.items() if k.startswith("YITU_")},
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
    counties = tmp_path / "admin_divisions.gpkg"
    xzq = pyogrio.read_dataframe(sample_dir / "admin_divisions.gpkg", layer="XZQ")
    pyogrio.write_dataframe(xzq[xzq["XZQDM"].isin(HAIKOU)], counties, layer="XZQ")
    drop_file(settings(), counties, "admin_divisions")
    runner.ingest(settings())  # core loaded, nothing integrated yet

    dag_run = {"dag_id": "yitu_integrate", "logical_date": "2026-11-16T02:00:00",
               "conf": {"full": True}}
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(ROOT / "dags"),
                           json.dumps([dag_run])], env=env, capture_output=True, text=True,
                          timeout=900)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    [result] = json.loads(next(x for x in proc.stdout.splitlines()
                               if x.startswith("RESULT ")).removeprefix("RESULT "))
    assert result["state"] == "success", result
    county_tasks = [k for k in result["tasks"] if k.startswith("integrate_county[")]
    assert main(["status", "--runs", "--json"]) == 0
    [run] = json.loads(capsys.readouterr().out)
    assert run["route"] == "airflow" and run["dag_run_id"] == result["run_id"]
    assert run["state"] == "published" and run["error"] is None
    assert run["full_rebuild"] is True and run["counties"] == len(county_tasks)
    assert run["partitions_built"] == len(run["built"]) > 0 and run["partitions_taken"] == 0
    assert run["rows_published"] == _published_rows(postgis_url) > 0
    stages = [(st["stage"], st["county"]) for st in run["stages"]]
    built = sorted(c for s, c in stages if s == "integrate")
    assert built == HAIKOU and len(county_tasks) == len(HAIKOU)  # one row per county task
    assert sorted(c for s, c in stages if s == "integrate.read") == HAIKOU
    assert [s for s, c in stages if not c] == ["plan", "publish", "report"]
    for st in run["stages"]:
        assert st["seconds"] >= 0 and st["cpu_seconds"] >= 0 and st["peak_rss_mib"] > 50
        assert st["error"] is None and st["pid"] > 0
        assert st["task"] == {"plan": "plan", "publish": "publish", "report": "report"}.get(
            st["stage"], "integrate_county")
    publish = next(st for st in run["stages"] if st["stage"] == "publish")
    assert publish["rows"] == run["rows_published"]

    # Each task's log ends with its stage table, the county's row in it.
    for name in ("plan", "integrate_county", "publish", "report"):
        assert f"{name}: what each stage cost" in log, name
    assert main(["status"]) == 0
    listing = capsys.readouterr().out
    assert f"integration run {run['run_id']} (airflow {result['run_id']}): published" in listing
