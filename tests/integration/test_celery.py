"""Shared-nothing workers: the deployment's CeleryExecutor with two real `airflow celery worker`
processes, each with a scratch folder of its own (YITU_SCRATCH, its task logs there too), that
share only what workers on two hosts would: the PostGIS warehouse, the broker (a redis-server
of the test's own) and the landing/raw volume (YITU_HOME). The sample drops go through the
ingest DAGs and one `yitu_integrate` run; its tasks, spread over both workers, hand each other
the inputs and the county partitions through the warehouse's `staging` schema, and the
published layers equal the CLI's on the same drops.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipelines.integrate import FAMILIES
from tests.conftest import ROOT, fresh_database
from tests.integration.airflow_services import (
    INGEST,
    WORKERS,
    Airflow,
    airflow_services,
    all_finished,
    celery_settings,
    redis_broker,
    start_celery_workers,
    workers_ready,
)
from tests.integration.test_faults import checksums

DEADLINE = 600.0  # seconds for ingest, then for the integration run, before the test gives up


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    with redis_broker(tmp_path) as url:
        yield url


@pytest.fixture
def celery(postgis_server: str, postgis_url: str, tmp_path: Path, broker: str,
           request: pytest.FixtureRequest) -> Iterator[Airflow]:
    with airflow_services(postgis_server, postgis_url, tmp_path, request,
                          celery_settings(broker)) as af:
        start_celery_workers(af, tmp_path)
        yield af


def _cli_reference(sample_dir: Path, home: Path, url: str, like: dict[str, str]
                   ) -> subprocess.Popen[str]:
    """`yitu drop` every sample file, then `yitu run`, on a warehouse of its own."""
    env = {**like, "YITU_HOME": str(home), "YITU_WAREHOUSE_URL": url}
    env.pop("YITU_SCRATCH", None)
    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    cli = f"{sys.executable} -m pipelines.cli"
    script = " && ".join([*(f"{cli} drop {sample_dir / f['file']} --dataset {f['dataset']}"
                            for f in manifest["files"]), f"{cli} run"])
    return subprocess.Popen(["bash", "-c", script], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _kill_group(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # bash and the yitu command it runs
        proc.wait()


def _loaded(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT to_regclass('audit.drops')")).scalar():
                return 0
            return int(conn.execute(text(
                "SELECT count(*) FROM audit.drops WHERE state = 'loaded'")).scalar_one())
    finally:
        engine.dispose()


def _parsed_in_a_child(url: str) -> tuple[int, int]:
    """(loaded drops, of them read in a reading child: its peak memory on the read stage)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            notes = conn.execute(text(
                "SELECT notes FROM audit.drops WHERE state = 'loaded'")).scalars().all()
    finally:
        engine.dispose()
    peaks = [json.loads(n)["stages"]["read"].get("child_peak_mb") for n in notes]
    return len(peaks), sum(1 for p in peaks if p)


def test_two_workers_share_only_warehouse_broker_and_landing(
        celery: Airflow, postgis_server: str, postgis_url: str, sample_dir: Path,
        tmp_path: Path) -> None:
    af = celery
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        cli_url = stack.enter_context(fresh_database(postgis_server))
        reference = _cli_reference(sample_dir, tmp_path / "cli", cli_url, af.env)
        stack.callback(_kill_group, reference)

        af.login()
        af.dags_parsed([*INGEST, "yitu_integrate"])
        # Ingest first, then one integration run by hand: paused, it queues no asset event.
        af.call("PATCH", "/api/v2/dags/yitu_integrate", {"is_paused": True})
        af.wait("both workers", lambda: workers_ready(af), 120)
        for w in WORKERS:  # deploy/airflow.env's preload: yitu imported before the pool forked
            assert "pipeline preloaded in the worker" in (af.logs / f"{w}.log").read_text(
                "utf-8", errors="replace"), w

        from pipelines.config import Settings
        from pipelines.landing.drops import drop_file

        manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
        shared = Settings(home=Path(af.env["YITU_HOME"]), warehouse_url=postgis_url,
                          pii_key=None)
        for f in manifest["files"]:  # what `yitu drop` does, into the shared landing zone
            drop_file(shared, sample_dir / f["file"], f["dataset"])
        af.wait("the drops to load", lambda: _loaded(postgis_url) == len(manifest["files"])
                and all_finished(af, INGEST), DEADLINE)
        ingested = time.monotonic()
        # Each file parsed in a reading child, under its memory ceiling and time limit, not in
        # the task's process, which billiard's pool worker had left daemonic (`own_process`).
        assert _parsed_in_a_child(postgis_url) == (len(manifest["files"]), len(
            manifest["files"]))

        run_id, run = af.integrate_once(DEADLINE)
        integrated = time.monotonic()
        tis = af.task_instances("yitu_integrate", run_id)
        assert run["state"] == "success", [(t["task_id"], t["map_index"], t["state"])
                                           for t in tis]
        assert {t["state"] for t in tis} == {"success"}
        counties = [t for t in tis if t["task_id"] == "integrate_county"]
        assert len(counties) >= 19

        # Both workers ran the run's tasks: the task instances and each worker's own logs.
        by_worker = {w: sorted(t["map_index"] for t in counties if t["hostname"] == w)
                     for w in WORKERS}
        assert {t["hostname"] for t in tis} <= set(WORKERS), {t["hostname"] for t in tis}
        assert all(by_worker.values()), by_worker
        for w in WORKERS:  # each worker's task logs on its own disk
            dirs = (tmp_path / w / "logs").glob(
                "dag_id=yitu_integrate/*/task_id=integrate_county/map_index=*")
            logged = {int(p.name.removeprefix("map_index=")) for p in dirs}
            assert logged >= set(by_worker[w]), (w, logged)

        # Nothing was staged on any disk: inputs and partitions went through PostGIS.
        for folder in [tmp_path / w for w in WORKERS] + [Path(af.env["YITU_HOME"])]:
            assert not (folder / "staging").exists(), folder
        engine = create_engine(postgis_url)
        with engine.connect() as conn:
            staged = conn.execute(text(
                "SELECT run_id, count(*) FILTER (WHERE left(part, 1) <> '.') FROM staging.parts "
                "GROUP BY run_id")).all()  # (the run's own records start with a dot)
            pointer = conn.execute(text(
                "SELECT value FROM audit.meta WHERE key = 'published_run'")).scalar_one()
        engine.dispose()
        assert [tuple(r) for r in staged] == [(pointer, len(counties) * len(FAMILIES))]

        # The published layers (and the core data) equal the CLI's on the same drops.
        out, _ = reference.communicate(timeout=600)
        assert reference.returncode == 0, out[-4000:]
        ours, cli = checksums(postgis_url), checksums(cli_url)
        assert {k for k in ours if k.startswith("publish.")} >= {
            "publish.farmland_base_map", "publish.region_summary"}
        assert ours == cli

    spread = ", ".join(f"{w} {len(m)}" for w, m in by_worker.items())
    print(f"\ningest {ingested - started:.0f} s, integration run {integrated - ingested:.0f} s "
          f"({len(counties)} partitions: {spread}), whole test {time.monotonic() - started:.0f} s")
