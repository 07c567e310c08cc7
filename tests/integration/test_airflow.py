"""Real Airflow: the DAG files import cleanly and both DAGs run end to end on PostGIS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


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
    assert result["dags"] == ["yitu_ingest", "yitu_integrate"]


def _dags_test(dag_id: str, env: dict[str, str]) -> str:
    proc = subprocess.run([AIRFLOW, "dags", "test", dag_id], env=env, capture_output=True,
                          text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]  # `dags test` exits non-zero on a failed DagRun
    return log


def test_dags_run_end_to_end_on_postgis(airflow_env: dict[str, str], postgis_url: str,
                                        sample_dir: Path, tmp_path: Path) -> None:
    env = {**airflow_env, "YITU_HOME": str(tmp_path / "home"), "YITU_WAREHOUSE_URL": postgis_url,
           "YITU_PII_KEY": "airflow-test-key-0123456789", "YITU_AS_OF": "2026-11-16T12:00:00"}
    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    for f in manifest["files"]:
        subprocess.run([sys.executable, "-m", "pipelines.cli", "drop", str(sample_dir / f["file"]),
                        "--dataset", f["dataset"]], env=env, check=True, capture_output=True)

    _dags_test("yitu_ingest", env)
    _dags_test("yitu_integrate", env)

    status = json.loads(subprocess.run([sys.executable, "-m", "pipelines.cli", "status",
                                        "--json"], env=env, check=True, capture_output=True,
                                       text=True).stdout)
    loaded = {d["dataset"]: d["rows_loaded"] for d in status}
    assert loaded == {f["dataset"]: f["expected_loaded"] for f in manifest["files"]}
    assert {d["state"] for d in status} == {"loaded"}

    from sqlalchemy import create_engine, text

    engine = create_engine(postgis_url)

    def published() -> dict[str, int]:
        with engine.connect() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'publish'")).scalars().all()
            return {t: conn.execute(text(f"SELECT count(*) FROM publish.{t}")).scalar_one()
                    for t in tables}

    first = published()
    assert set(first) == {"farmland_base_map", "farmland_conflicts", "licenses_on_farmland",
                          "complaints_enriched", "enterprise_profile", "region_summary"}
    assert first["region_summary"] == 24
    complaints = next(f for f in manifest["files"] if f["dataset"] == "complaints")
    assert first["complaints_enriched"] == complaints["expected_loaded"]

    # Running both DAGs again changes nothing: drops are answered once, layers rebuilt the same.
    _dags_test("yitu_ingest", env)
    _dags_test("yitu_integrate", env)
    assert published() == first
    engine.dispose()
