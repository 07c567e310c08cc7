"""Shared fixtures: a real throwaway PostGIS cluster, fresh YITU_HOMEs, sample files."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pg_bindir() -> Path:
    """The newest PostgreSQL on this machine that has the PostGIS extension installed."""
    for bindir in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        version = bindir.parent.name
        if Path(f"/usr/share/postgresql/{version}/extension/postgis.control").exists():
            return bindir
    raise RuntimeError("PostgreSQL with PostGIS is not installed: run `bash .ci/install`")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgis_server() -> Iterator[str]:
    """A PostgreSQL cluster of our own (trust auth on 127.0.0.1), removed afterwards.

    YITU_TEST_DATABASE_URL points the tests at an existing server instead.
    """
    existing = os.environ.get("YITU_TEST_DATABASE_URL")
    if existing:
        yield existing
        return
    bindir = _pg_bindir()
    data = Path(tempfile.mkdtemp(prefix="yitu-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                 "-A", "trust", "-E", "UTF8", "--no-locale"]),
                   check=True, capture_output=True)
    subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l",
                                 str(data / "log"), "-o",
                                 f"-p {port} -c listen_addresses=127.0.0.1 -k {data} "
                                 "-c fsync=off -c synchronous_commit=off", "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                     "stop"]), capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server (yitu creates the PostGIS extension itself)."""
    from sqlalchemy import create_engine, text

    name = f"yitu_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def postgis_url(postgis_server: str) -> Iterator[str]:
    """A fresh database for one test."""
    with fresh_database(postgis_server) as url:
        yield url


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipelines.sample import write_samples

    out = tmp_path_factory.mktemp("samples")
    write_samples(out, seed=42, scale=1)
    return out


def set_yitu_env(monkeypatch: pytest.MonkeyPatch, home: Path, warehouse_url: str | None) -> None:
    monkeypatch.setenv("YITU_HOME", str(home))
    if warehouse_url:
        monkeypatch.setenv("YITU_WAREHOUSE_URL", warehouse_url)
    else:
        monkeypatch.delenv("YITU_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("YITU_PII_KEY", "test-key-0123456789abcdef")
    # response-time results are judged at a fixed moment so the figures are repeatable
    monkeypatch.setenv("YITU_AS_OF", "2026-11-16T12:00:00")


@pytest.fixture
def yitu_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh YITU_HOME on the embedded GeoPackage warehouse."""
    home = tmp_path / "home"
    set_yitu_env(monkeypatch, home, None)
    return home


WAREHOUSES = ["gpkg", "postgis"]


@pytest.fixture(params=WAREHOUSES)
def home(request: pytest.FixtureRequest, yitu_env: Path,
         monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh YITU_HOME on each warehouse in turn: the embedded GeoPackage, then PostGIS."""
    if request.param == "postgis":
        monkeypatch.setenv("YITU_WAREHOUSE_URL", request.getfixturevalue("postgis_url"))
    return yitu_env


def wait_for(predicate, timeout: float = 60.0, every: float = 0.5) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False
