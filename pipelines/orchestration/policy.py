"""Which failures Airflow retries: only those where waiting can help (the warehouse is down or
busy). A bad file or a bug fails at once; retrying it would give the same answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

# Dotted paths: Airflow resolves them in the worker, so DAG parsing imports no database driver.
TRANSIENT = ["sqlalchemy.exc.OperationalError", "sqlalchemy.exc.InterfaceError",
             "psycopg.OperationalError", "sqlite3.OperationalError", "ConnectionError",
             "TimeoutError"]


def is_transient(exc: BaseException) -> bool:
    names = {f"{k.__module__}.{k.__qualname__}" for k in type(exc).__mro__}
    names |= {k.__qualname__ for k in type(exc).__mro__ if k.__module__ == "builtins"}
    return bool(names & set(TRANSIENT))


def task_defaults() -> dict[str, Any]:
    """default_args for every yitu DAG: backoff 1, 2, 4 ... min (at most 30) for transient
    failures, nothing else retried."""
    from airflow.sdk.definitions.retry_policy import (
        ExceptionRetryPolicy,
        RetryAction,
        RetryRule,
    )

    rule = RetryRule(exception=[f"builtins.{n}" if "." not in n else n for n in TRANSIENT],
                     action=RetryAction.RETRY, reason="warehouse unreachable or busy")
    return {"retries": 4, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": 2.0,
            "max_retry_delay": timedelta(minutes=30),
            "retry_policy": ExceptionRetryPolicy(rules=[rule], default=RetryAction.FAIL)}
