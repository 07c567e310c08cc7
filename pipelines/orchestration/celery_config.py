"""The Celery workers' configuration (`[celery] celery_config_options`): Airflow's own, plus
the pipeline's imports paid once per worker instead of once per task.

Airflow 3's Celery worker runs each task through the Task SDK supervisor, which `os.fork`s the
task process from the worker's pool process (airflow/sdk/execution_time/supervisor.py,
`WatchedSubprocess.start`; the pool processes are themselves forked from the worker's main
process by Celery's prefork pool). Whatever the worker's main process has imported before its
pool starts is therefore inherited by every task for free. Without this, each task imported
the geo stack, the pipeline, Great Expectations and the readers again (seconds of CPU per task,
most of a county task's cost at province scale).

Only imports and state that holds no socket, file or thread are made before the fork: no
warehouse engine, no connection, no forkserver (each task opens its own, after the fork).
The scheduler and the api-server import this module too (they read the same setting), but
the preload runs on Celery's `worker_init` signal, which only a worker's main process sends.
"""

from __future__ import annotations

import gc
import importlib
import logging
import time
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

log = logging.getLogger(__name__)

CELERY_CONFIG: dict[str, Any] = dict(DEFAULT_CELERY_CONFIG)

# What the tasks import (pipelines.orchestration.tasks and the runner functions it calls,
# the DAG files' own imports), and the readers' warm-up (pipelines.read.warm runs each reader
# once on a tiny input: codecs, Arrow kernels, PROJ's database loaded once).
PRELOAD = (
    "pipelines.orchestration.tasks",
    "pipelines.orchestration.docs",
    "pipelines.orchestration.triggers",
    "pipelines.orchestration.deliveries",
    "pipelines.runner",
    "pipelines.runner.integration",
    "pipelines.runner.locks",
    "pipelines.alerts",
    "pipelines.integrate",
    "pipelines.publish",
    "pipelines.report",
    "pipelines.report.timeliness",
    "pipelines.validate.run",
    "pipelines.read.warm",
)


def preload() -> float:
    """Import PRELOAD and make the Great Expectations context; the CPU seconds it took."""
    started = time.process_time()
    for name in PRELOAD:
        importlib.import_module(name)
    from pipelines.validate import run

    run.warm_up()  # the GX context and its pandas data source: cached per process
    return time.process_time() - started


def _preload_before_fork(**_: Any) -> None:
    cpu = preload()
    # Out of the garbage collector's sight, as Airflow freezes its own preloaded modules (its
    # import_modules handler, which runs before worker_init): otherwise every full collection
    # in every task walks the million objects inherited here, and touching them copies the
    # shared pages (a county task read its inputs 1.8x slower with the preload unfrozen).
    gc.freeze()
    log.info("yitu: pipeline preloaded in the worker before its pool forks (%.1f CPU s)", cpu)


worker_init.connect(_preload_before_fork)
