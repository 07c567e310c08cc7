"""Airflow's real services on this machine for the scheduler tests (test_scheduler.py with the
LocalExecutor, test_celery.py with Celery workers): the settings docker-compose runs with,
each service a process group of its own, every server on 127.0.0.1, all of them stopped at
the end whatever happened; their state read through the REST API."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, _free_port, fresh_database

AIRFLOW = str(Path(sys.executable).with_name("airflow"))
INGEST = ["yitu_ingest_admin_divisions", "yitu_ingest_farmland_pbf", "yitu_ingest_farmland_hsf",
          "yitu_ingest_licenses", "yitu_ingest_complaints"]
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
FINISHED = {"success", "failed"}
WORKER_ENV = "YITU_TEST_WORKER"  # the name `worker_hostname` gives a worker's task instances
WORKERS = ("worker1", "worker2")


def shared_settings() -> dict[str, str]:
    """deploy/airflow.env: the settings docker-compose runs with (KEY=VALUE lines)."""
    out = {}
    for line in (ROOT / "deploy" / "airflow.env").read_text("utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def worker_hostname() -> str:
    """core.hostname_callable of the Celery test's workers: two workers on one machine, told
    apart in each task instance's `hostname`."""
    return os.environ.get(WORKER_ENV) or socket.getfqdn()


@dataclass
class Airflow:
    url: str
    env: dict[str, str]
    logs: Path
    token: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            f"{self.url}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def runs(self, dag_id: str) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns?order_by=run_after")["dag_runs"]
        return runs

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        tis: list[dict[str, Any]] = self.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100")["task_instances"]
        return tis

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        """`airflow <args>` in a session of its own (its whole process group, task processes
        included, is killed at the end), its output in logs/<name>.log."""
        out = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        self.procs.append(subprocess.Popen([AIRFLOW, *args], env=env or self.env, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True))
        out.close()  # the child has its own copy

    def stop(self) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)  # and whatever it left behind in its group
            p.wait()

    def tails(self) -> str:
        return "\n".join(f"==== {p.name} ====\n" + "\n".join(
            p.read_text("utf-8", errors="replace").splitlines()[-40:])
            for p in sorted(self.logs.glob("*.log")))

    def wait(self, what: str, predicate: Any, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                result = predicate()
            except OSError:  # api-server not listening yet
                result = None
            if result:
                return result
            time.sleep(1)
        pytest.fail(f"timed out waiting for {what}\n{self.tails()}")

    def login(self) -> None:
        """Wait for the api-server, then take a token (every user is admin here)."""
        def token() -> str:
            with urllib.request.urlopen(f"{self.url}/auth/token", timeout=10) as resp:
                value: str = json.load(resp)["access_token"]
            return value
        self.token = self.wait("the api-server", token, 120)

    def integrate_once(self, timeout: float,
                       unobserved: bool = False) -> tuple[str, dict[str, Any]]:
        """Unpause yitu_integrate (paused while the drops load: no asset event queued), start
        one run of it and wait for its end; its id and the run. `unobserved` (a benchmark
        measuring the api-server's CPU): wait by reading the run's state in the metadata
        database, not through the API - asked every second, the API cost the api-server
        5.3 s of request time in a 1x run of about 3 minutes, which was counted as the
        Airflow route's."""
        self.call("PATCH", "/api/v2/dags/yitu_integrate", {"is_paused": False})
        run_id: str = self.call("POST", "/api/v2/dags/yitu_integrate/dagRuns",
                                {"logical_date": None})["dag_run_id"]
        if unobserved:
            from sqlalchemy import create_engine, text

            engine = create_engine(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                                   isolation_level="AUTOCOMMIT")
            state = text("SELECT state FROM dag_run WHERE dag_id = 'yitu_integrate' "
                         "AND run_id = :r")
            try:
                with engine.connect() as conn:
                    self.wait("the integration run", lambda: conn.execute(
                        state, {"r": run_id}).scalar() in FINISHED, timeout)
            finally:
                engine.dispose()
        run = self.wait("the integration run", lambda: next(
            (r for r in self.runs("yitu_integrate")
             if r["dag_run_id"] == run_id and r["state"] in FINISHED), None), timeout)
        return run_id, run

    def dags_parsed(self, dag_ids: list[str]) -> None:
        self.wait("the DAG files to be parsed", lambda: {
            d["dag_id"] for d in self.get("/api/v2/dags?limit=100")["dags"]} >= set(dag_ids), 120)


@contextlib.contextmanager
def airflow_services(postgis_server: str, warehouse_url: str, tmp_path: Path,
                     request: pytest.FixtureRequest | None,
                     settings: dict[str, str]) -> Iterator[Airflow]:
    """api-server, scheduler, dag-processor and triggerer on a fresh metadata database of the
    test cluster, with deploy/airflow.env, then `settings` (the executor's, for one), over
    it. Yields before they are ready: `Airflow.login` waits for the api-server. (request:
    the test's, to print the services' last words when it failed; None from a bench.)"""
    home = tmp_path / "airflow"
    logs = tmp_path / "service-logs"
    logs.mkdir()
    port = _free_port()
    with fresh_database(postgis_server) as metadata_url:
        env = {**os.environ, **shared_settings()}
        env.update({
            # What differs from docker-compose on this machine: databases, paths, ports.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,  # psycopg 3 driver
            # Airflow would derive postgresql+asyncpg (not installed); psycopg 3 does async too.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_url,
            # The CeleryExecutor's task results, in the same database (as docker-compose).
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",  # its port may be taken here
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),  # shared by all of them
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Test speed: pick up the DAG files and react within a second or two.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            "YITU_LANDING_POLL_SECONDS": "1",
            # The warehouse the tasks load into.
            "YITU_HOME": str(tmp_path / "yitu"),
            "YITU_WAREHOUSE_URL": warehouse_url,
            "YITU_PII_KEY": "scheduler-test-key-0123456789",
            "YITU_AS_OF": "2026-11-16T12:00:00",
            **settings,
        })
        migrate = subprocess.run([AIRFLOW, "db", "migrate"], env=env, capture_output=True,
                                 text=True)
        assert migrate.returncode == 0, (migrate.stdout + migrate.stderr)[-4000:]
        af = Airflow(f"http://127.0.0.1:{port}", env, logs)
        try:
            # Every server on 127.0.0.1 only: the api-server told so; the log servers the
            # scheduler and triggerer would start bind every interface, and the task logs are
            # on this machine's disk anyway, so they are not started.
            af.start("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(port)])
            for name in SERVICES[1:]:
                local = ["--skip-serve-logs"] if name in ("scheduler", "triggerer") else []
                af.start(name, [name, *local])
            failed = request.session.testsfailed if request else 0
            yield af
            if request and request.session.testsfailed > failed:
                print(af.tails())  # what each service said last, next to the failure
        finally:
            af.stop()


def all_finished(af: Airflow, dag_ids: list[str]) -> dict[str, list[dict[str, Any]]] | None:
    """Every DAG ran, no run is queued or running, and no asset update waits for a run."""
    runs = {d: af.runs(d) for d in dag_ids}
    if any(not runs[d] or any(r["state"] not in FINISHED for r in runs[d]) for d in runs):
        return None
    # A load's asset event and the run it queues are one transaction each in the metadata
    # database: with nothing queued and nothing running, the last load has been integrated.
    if any(af.get(f"/api/v2/dags/{d}/assets/queuedEvents")["total_entries"] for d in runs):
        return None
    return runs


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextlib.contextmanager
def redis_broker(folder: Path) -> Iterator[str]:
    """A redis-server of our own on a free 127.0.0.1 port, nothing written to disk; its URL.
    (The Celery test's broker, and bench/province.py's for its scheduler mode.)"""
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(server).exists():
        pytest.fail("redis-server is not installed: run `source .ci/install`")
    port = _free_port()
    with open(folder / "redis.log", "wb") as log:
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                 "--save", "", "--appendonly", "no", "--dir", str(folder)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not _redis_ping(port):
            assert proc.poll() is None and time.monotonic() < deadline, \
                (folder / "redis.log").read_text("utf-8", errors="replace")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def celery_settings(broker: str) -> dict[str, str]:
    """What the Celery runs set over deploy/airflow.env: the executor, the broker, and task
    slots for two cores (two task processes per worker)."""
    return {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor", "AIRFLOW__CELERY__BROKER_URL": broker,
            "AIRFLOW__CORE__PARALLELISM": "4"}


def start_celery_workers(af: Airflow, folder: Path, names: tuple[str, ...] = WORKERS) -> None:
    """`airflow celery worker` per name, each with a scratch folder of its own (YITU_SCRATCH,
    its task logs there too: what would be another host's disk), its task instances told
    apart by hostname. No log server (it would listen on every interface)."""
    for name in names:
        scratch = folder / name
        env = {**af.env,
               "YITU_SCRATCH": str(scratch),  # this worker's own disk
               "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(scratch / "logs"),
               WORKER_ENV: name,
               "AIRFLOW__CORE__HOSTNAME_CALLABLE":
                   "tests.integration.airflow_services.worker_hostname",
               "PYTHONPATH": os.pathsep.join(
                   [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        af.start(name, ["celery", "worker", "--celery-hostname", f"{name}@%h",
                        "--concurrency", "2", "--skip-serve-logs"], env)


def workers_ready(af: Airflow, names: tuple[str, ...] = WORKERS) -> bool:
    return all("ready." in (af.logs / f"{w}.log").read_text("utf-8", errors="replace")
               for w in names)
