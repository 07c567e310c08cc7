"""The real thing: Airflow's scheduler, dag-processor, triggerer and api-server on this machine
(LocalExecutor, PostgreSQL metadata database), department files dropped into the landing zone,
and the DAGs triggering and finishing by themselves; their state read through the REST API.

Prints the time from the last .ready marker to the published layers.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, _free_port, fresh_database

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
INGEST = ["yitu_ingest_admin_divisions", "yitu_ingest_farmland_pbf", "yitu_ingest_farmland_hsf",
          "yitu_ingest_licenses", "yitu_ingest_complaints"]
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
DEADLINE = 900.0  # seconds for the whole flow (a busy 2-core machine) before the test gives up
FINISHED = {"success", "failed"}


def shared_settings() -> dict[str, str]:
    """deploy/airflow.env: the settings docker-compose runs with (KEY=VALUE lines)."""
    out = {}
    for line in (ROOT / "deploy" / "airflow.env").read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


@dataclass
class Airflow:
    url: str
    env: dict[str, str]
    logs: Path
    token: str = ""

    def get(self, path: str) -> Any:
        req = urllib.request.Request(f"{self.url}{path}",
                                     headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns?order_by=run_after")["dag_runs"]
        return runs

    def tails(self) -> str:
        return "\n".join(f"==== {p.name} ====\n" + "\n".join(
            p.read_text("utf-8", errors="replace").splitlines()[-40:])
            for p in sorted(self.logs.glob("*.log")))


def _start(name: str, args: list[str], env: dict[str, str], logs: Path) -> subprocess.Popen[bytes]:
    out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process group
    # A session of its own: the whole process group (LocalExecutor workers, task processes)
    # is killed at the end.
    return subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # and whatever it left behind in its group
        p.wait()


def _wait(what: str, predicate: Any, af: Airflow, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = predicate()
        except OSError:  # api-server not listening yet
            result = None
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}\n{af.tails()}")


@pytest.fixture
def airflow(postgis_server: str, postgis_url: str, tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[Airflow]:
    home = tmp_path / "airflow"
    logs = tmp_path / "service-logs"
    logs.mkdir()
    port = _free_port()
    with fresh_database(postgis_server) as metadata_url:
        env = {**os.environ, **shared_settings()}
        env.update({
            # What differs from docker-compose on this machine: executor, databases, paths, ports.
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",  # two cores: four task processes at most
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,  # psycopg 3 driver
            # Airflow would derive postgresql+asyncpg (not installed); psycopg 3 does async too.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # its port may be taken here
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),  # shared by all four
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Test speed: pick up the DAG files and react within a second or two.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "YITU_LANDING_POLL_SECONDS": "1",
            # The warehouse the tasks load into.
            "YITU_HOME": str(tmp_path / "yitu"),
            "YITU_WAREHOUSE_URL": postgis_url,
            "YITU_PII_KEY": "scheduler-test-key-0123456789",
            "YITU_AS_OF": "2026-11-16T12:00:00",
        })
        migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True,
                                 text=True)
        assert migrate.returncode == 0, (migrate.stdout + migrate.stderr)[-4000:]
        af = Airflow(f"http://127.0.0.1:{port}", env, logs)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            # Every server on 127.0.0.1 only: the api-server told so; the log servers the
            # scheduler and triggerer would start bind every interface, and the task logs are
            # on this machine's disk anyway, so they are not started.
            procs.append(_start("api-server", ["api-server", "--host", "127.0.0.1",
                                               "--port", str(port)], env, logs))
            for name in SERVICES[1:]:
                local = ["--skip-serve-logs"] if name in ("scheduler", "triggerer") else []
                procs.append(_start(name, [name, *local], env, logs))
            failed = request.session.testsfailed
            yield af
            if request.session.testsfailed > failed:
                print(af.tails())  # what each service said last, next to the failure
        finally:
            _stop(procs)


def _token(af: Airflow) -> str:
    with urllib.request.urlopen(f"{af.url}/auth/token", timeout=10) as resp:
        token: str = json.load(resp)["access_token"]
    return token


def _all_finished(af: Airflow) -> dict[str, list[dict[str, Any]]] | None:
    """Every DAG ran, no run is queued or running, and no asset update waits for a run."""
    runs = {d: af.runs(d) for d in [*INGEST, "yitu_integrate"]}
    if any(not runs[d] or any(r["state"] not in FINISHED for r in runs[d]) for d in runs):
        return None
    # A load's asset event and the run it queues are one transaction each in the metadata
    # database: with nothing queued and nothing running, the last load has been integrated.
    if any(af.get(f"/api/v2/dags/{d}/assets/queuedEvents")["total_entries"] for d in runs):
        return None
    return runs


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_drops_trigger_ingest_and_integration_by_themselves(
        airflow: Airflow, sample_dir: Path, postgis_url: str) -> None:
    af = airflow
    af.token = _wait("the api-server", lambda: _token(af), af, 120)
    dags = _wait("the DAG files to be parsed", lambda: {
        d["dag_id"] for d in af.get("/api/v2/dags?limit=100")["dags"]} >= {*INGEST}, af, 120)
    assert dags
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

    runs = _wait("the DAGs to run by themselves", lambda: _all_finished(af), af, DEADLINE)

    # Read through the REST API: every run succeeded and was started by an asset event.
    for dag_id, dag_runs in runs.items():
        assert [r["state"] for r in dag_runs] == ["success"] * len(dag_runs), (dag_id, dag_runs)
        assert {r["run_type"] for r in dag_runs} == {"asset_triggered"}, (dag_id, dag_runs)
    final = runs["yitu_integrate"][-1]
    tis = af.get(f"/api/v2/dags/yitu_integrate/dagRuns/{final['dag_run_id']}/taskInstances"
                 "?limit=100")["task_instances"]
    assert {ti["state"] for ti in tis} == {"success"}
    assert sum(ti["task_id"] == "integrate_county" for ti in tis) >= 19
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
