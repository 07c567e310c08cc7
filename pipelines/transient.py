"""Which failures waiting can help: the warehouse is down or busy. Light on purpose (no
database driver is imported): Airflow's retry policy reads it when it parses the DAG files."""

from __future__ import annotations

# Dotted paths: Airflow resolves them in the worker, so DAG parsing imports no database driver.
TRANSIENT = ["sqlalchemy.exc.OperationalError", "sqlalchemy.exc.InterfaceError",
             "psycopg.OperationalError", "sqlite3.OperationalError", "ConnectionError",
             "TimeoutError"]


def is_transient(exc: BaseException) -> bool:
    names = {f"{k.__module__}.{k.__qualname__}" for k in type(exc).__mro__}
    names |= {k.__qualname__ for k in type(exc).__mro__ if k.__module__ == "builtins"}
    return bool(names & set(TRANSIENT))
