"""Named locks, so that Airflow running the same task twice at once does the work once.

PostGIS: a session-level advisory lock on a connection of its own, released when the block
ends or when the process dies (the server drops the session). The embedded GeoPackage: an
flock on a file beside the warehouse, released the same ways, for processes on one machine.
"""

from __future__ import annotations

import fcntl
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from pipelines.config import Settings

log = logging.getLogger(__name__)


@contextmanager
def exclusive(settings: Settings, key: str) -> Iterator[None]:
    """Hold the lock `key` (e.g. yitu.ingest.licenses) while the block runs."""
    # Its own namespace: the warehouse takes transaction locks named yitu.publish etc. itself,
    # and a task holding the same name while publishing would wait for itself forever.
    key = f"task:{key}"
    if settings.embedded:
        with _file_lock(settings, key):
            yield
    else:
        with _advisory_lock(settings.warehouse_url, key):
            yield


@contextmanager
def _file_lock(settings: Settings, key: str) -> Iterator[None]:
    folder = settings.home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for %s: another run holds it", key)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextmanager
def _advisory_lock(url: str, key: str) -> Iterator[None]:
    from pipelines.warehouse import open_warehouse

    engine = open_warehouse(url).engine  # its own engine: the lock lives on its own session
    try:
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": key})
            if not got.scalar_one():
                log.info("waiting for %s: another run holds it", key)
                conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()
