"""ADBC connections kept between the reads of one process (`pgcopy.read_arrow`).

A connection of ADBC's PostgreSQL driver takes 35-55 ms to open (a libpq connection and the
server's type catalogue, read at every connect), a psycopg one from SQLAlchemy's pool none:
at 1x, one county's parcels sent again, the run's twenty-odd reads spent 0.9 s of its critical
path opening connections. The driver has no pool of its own and SQLAlchemy's does not hold ADBC
connections, so the few lines below keep the idle ones, per URL:

- autocommit: a reused connection holds no transaction, so it keeps no snapshot and no lock
  between reads (an idle transaction would hold a read lock on every table it read, and a
  publish swapping that table would wait for it);
- one reader at a time per connection: a thread takes one from the idle list or opens one,
  and gives it back when its read is done; a read that raised closes its connection;
- a connection idle for longer than `IDLE_SECONDS` is closed, not reused (a long-lived worker
  between tasks: the server may have gone away since); a read that finds its kept
  connection closed by the server is made again on a new one (`pgcopy.read_arrow`);
- none crosses a fork: the idle ones are closed before this process forks, and any given
  back during the fork is left untouched in the child (closing it there would end the
  parent's session: the socket is shared).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import adbc_driver_postgresql.dbapi as adbc

IDLE_SECONDS = 30.0
_lock = threading.Lock()
_idle: dict[str, list[tuple[float, Any]]] = {}  # uri -> (given back at, connection)
_inherited: list[Any] = []  # a child's copies of its parent's connections: never touched


@contextmanager
def connection(uri: str, reuse: bool = True) -> Iterator[Any]:
    """An autocommit ADBC connection to `uri`, an idle one if `reuse` and there is one;
    given back after."""
    conn = (_take(uri) if reuse else None) or adbc.connect(uri, autocommit=True)
    try:
        yield conn
    except BaseException:
        _close(conn)  # (one the server closed may fail to close: the first error stands)
        raise
    with _lock:
        _idle.setdefault(uri, []).append((time.monotonic(), conn))


def _take(uri: str) -> Any:
    """The connection given back last, if it has not been idle too long (those given back
    before it have been idle longer: all closed then)."""
    with _lock:
        kept = _idle.get(uri, [])
        found = kept.pop() if kept else None
        stale = []
        if found is not None and time.monotonic() - found[0] > IDLE_SECONDS:
            stale, found = [found, *kept], None
            kept.clear()
    for _, conn in stale:
        _close(conn)
    return None if found is None else found[1]


def close_idle() -> None:
    """Close every idle connection of this process."""
    with _lock:
        conns = [conn for kept in _idle.values() for _, conn in kept]
        _idle.clear()
    for conn in conns:
        _close(conn)


def _close(conn: Any) -> None:
    with contextlib.suppress(Exception):  # a connection the server dropped: nothing to close
        conn.close()


def _forget_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # (held by a thread of the parent that does not exist here)
    _inherited.extend(conn for kept in _idle.values() for _, conn in kept)
    _idle.clear()


os.register_at_fork(before=close_idle, after_in_child=_forget_in_child)
atexit.register(close_idle)
