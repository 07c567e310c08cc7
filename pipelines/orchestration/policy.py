"""Which failures Airflow retries: only those where waiting can help (the warehouse is down or
busy). A bad file or a bug fails at once; retrying it would give the same answer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pipelines.transient import TRANSIENT, is_transient

__all__ = ["TRANSIENT", "is_transient", "task_defaults"]


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
