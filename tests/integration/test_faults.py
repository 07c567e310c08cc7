"""Faults on the production warehouse: a run killed (`kill -9`) at each point of its work, two
runs at once, the database stopped mid-run, a corrected resend arriving during a load. After
the rerun the warehouse equals a clean run's, table by table, and nothing is left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pipelines.failpoints import POINTS
from tests.conftest import _as_postgres, _free_port, _pg_bindir, fresh_database, wait_for
from tests.digests import table_digests

ROOT = Path(__file__).resolve().parents[2]
FILES = (("admin_divisions", "admin_divisions.gpkg"), ("complaints", "complaints.csv"))
# what differs between two runs of the same files: when and under which drop id
RUN_SPECIFIC = frozenset({"_version_id", "_drop_id", "_valid_from", "_valid_to", "_closed_by",
                          "fid"})


def _env(home: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("YITU_")}
    env.update(YITU_HOME=str(home), YITU_WAREHOUSE_URL=url, YITU_AS_OF="2026-11-16T12:00:00",
               YITU_PII_KEY="test-key-0123456789abcdef", **extra)
    return env


def _yitu(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pipelines.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _done(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


def _drop_all(env: dict[str, str], sample_dir: Path) -> None:
    for dataset, file in FILES:
        code, out = _done(_yitu(env, "drop", str(sample_dir / file), "--dataset", dataset))
        assert code == 0, out


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Per core and publish table: rows and an order-independent digest of their content;
    then what a half-done run would leave: staged tables, and the drops' states."""
    out = table_digests(url, ("core", "publish"), RUN_SPECIFIC)
    engine = create_engine(url)
    with engine.connect() as conn:
        staged = conn.execute(text("SELECT count(*) FROM information_schema.tables "
                                   "WHERE table_schema = 'publish_staging'")).scalar_one()
        states = conn.execute(text("SELECT dataset, state, count(*) FROM audit.drops "
                                   "GROUP BY 1, 2 ORDER BY 1, 2")).all()
    engine.dispose()
    out["publish_staging (leftovers)"] = (int(staged), "")
    out["audit.drops (states)"] = (len(states), repr([tuple(r) for r in states]))
    return out


@pytest.fixture(scope="module")
def clean(postgis_server: str, sample_dir: Path,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[int, str]]]:
    with fresh_database(postgis_server) as url:
        env = _env(tmp_path_factory.mktemp("clean"), url)
        _drop_all(env, sample_dir)
        code, out = _done(_yitu(env, "run"))
        assert code == 0, out
        yield checksums(url)


def _ledger_has(engine: Any, where: str) -> bool:
    """Whether the ledger exists yet and holds a drop matching `where` (a run's progress)."""
    with engine.connect() as conn:
        if not conn.execute(text("SELECT to_regclass('audit.drops')")).scalar():
            return False
        return bool(conn.execute(text(f"SELECT count(*) FROM audit.drops WHERE {where}"))
                    .scalar_one())


def _leftovers(home: Path) -> list[Path]:
    """Half-written files a killed run may leave: none may survive the rerun."""
    return [p for p in home.rglob("*") if p.name.endswith((".part", ".tmp")) or
            (p.parent.name == "work" and p.is_dir()) or p.name.startswith(".publish-")]


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_any_point_is_completed_by_the_next(
        point: str, clean: dict[str, tuple[int, str]], postgis_server: str, sample_dir: Path,
        tmp_path: Path) -> None:
    with fresh_database(postgis_server) as url:
        env = _env(tmp_path / "home", url)
        _drop_all(env, sample_dir)
        code, out = _done(_yitu({**env, "YITU_FAILPOINT": point}, "run"))
        assert code == -signal.SIGKILL, out  # it died there, as kill -9 makes it
        code, out = _done(_yitu(env, "run"))
        assert code == 0, out
        assert checksums(url) == clean
        assert _leftovers(tmp_path / "home") == []


def test_two_runs_at_once_do_the_work_once(clean: dict[str, tuple[int, str]],
                                           postgis_server: str, sample_dir: Path,
                                           tmp_path: Path) -> None:
    with fresh_database(postgis_server) as url:
        env = _env(tmp_path / "home", url)
        _drop_all(env, sample_dir)
        runs = [_yitu(env, "run"), _yitu(env, "run")]
        for code, out in map(_done, runs):
            assert code == 0, out
        assert checksums(url) == clean  # every file archived and loaded once


def test_a_resend_arriving_during_a_load_is_answered_after_it(
        postgis_server: str, sample_dir: Path, tmp_path: Path) -> None:
    with fresh_database(postgis_server) as url:
        env = _env(tmp_path / "home", url)
        _drop_all(env, sample_dir)
        first = _yitu(env, "run")
        engine = create_engine(url)

        # the first run has taken the complaints file
        assert wait_for(lambda: _ledger_has(engine, "dataset = 'complaints'"), timeout=300)
        corrected = tmp_path / "complaints.csv"
        # other bytes, so not a duplicate: a resend the department made while the first loads
        corrected.write_bytes((sample_dir / "complaints.csv").read_bytes() + b"\r\n")
        code, out = _done(_yitu(env, "drop", str(corrected), "--dataset", "complaints"))
        assert code == 0, out
        second = _yitu(env, "run")
        for code, out in (_done(first), _done(second)):
            assert code == 0, out
        with engine.connect() as conn:
            drops = conn.execute(text(
                "SELECT drop_id, state FROM audit.drops WHERE dataset = 'complaints' "
                "ORDER BY received_at")).all()
            current = conn.execute(text(
                "SELECT DISTINCT _drop_id FROM core.complaints WHERE _valid_to IS NULL")).all()
        engine.dispose()
        assert [s for _, s in drops] == ["loaded", "loaded"]  # both recorded, in order
        assert {d for (d,) in current} == {drops[1][0]}  # the later one is what is current


def _cluster() -> tuple[Path, Path, int]:
    bindir, data, port = _pg_bindir(), Path(tempfile.mkdtemp(prefix="yitu-pg-fault-")), _free_port()
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                 "-A", "trust", "-E", "UTF8", "--no-locale"]),
                   check=True, capture_output=True)
    return bindir, data, port


def _pg_ctl(bindir: Path, data: Path, port: int, action: str) -> None:
    opts = ["-o", f"-p {port} -c listen_addresses=127.0.0.1 -k {data} -c fsync=off"]
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                                 str(data / "log"), *(opts if action == "start" else
                                                      ["-m", "immediate"]), action]),
                   check=True, capture_output=True)


def test_the_database_stopped_mid_run(clean: dict[str, tuple[int, str]], sample_dir: Path,
                                      tmp_path: Path) -> None:
    bindir, data, port = _cluster()
    _pg_ctl(bindir, data, port, "start")
    try:
        if True:  # the cluster is this test's own: its postgres database is thrown away with it
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
            env = _env(tmp_path / "home", url)
            _drop_all(env, sample_dir)
            run = _yitu(env, "run")
            engine = create_engine(url)

            assert wait_for(lambda: _ledger_has(engine, "state = 'loaded'"), timeout=300)
            engine.dispose()
            _pg_ctl(bindir, data, port, "stop")
            code, out = _done(run)
            assert code == 3, out  # a clear answer, not a traceback
            assert "运行环境故障" in out and "Traceback" not in out
            time.sleep(1)
            _pg_ctl(bindir, data, port, "start")
            code, out = _done(_yitu(env, "run"))
            assert code == 0, out
            assert checksums(url) == clean
    finally:
        _pg_ctl(bindir, data, port, "stop")
        shutil.rmtree(data, ignore_errors=True)
