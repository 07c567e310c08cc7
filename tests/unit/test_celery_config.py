"""The Celery workers' preload (pipelines.orchestration.celery_config): Airflow's own Celery
settings unchanged, and what a task imports already imported before the pool forks. (That a
real `airflow celery worker` runs it before forking is checked by tests/integration/
test_celery.py, in each worker's log.)"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import import_module

from tests.conftest import ROOT
from tests.unit.test_deployment import AIRFLOW_ENV

# In a fresh interpreter: what the worker's main process does on worker_init, then what a
# task process does (parse the DAG files, import and call into the orchestration tasks'
# modules); the modules the task would still have to import itself.
PROBE = """
import importlib.util, json, sys
from celery.signals import worker_init
import pipelines.orchestration.celery_config
before = set(sys.modules)
light = sorted(m for m in ("geopandas", "great_expectations", "pyarrow") if m in before)
worker_init.send(sender=None)  # what celery's WorkController sends before its pool starts
preloaded = set(sys.modules)
for dag in ("yitu_ingest", "yitu_integrate", "yitu_deliveries"):
    spec = importlib.util.spec_from_file_location(dag, f"dags/{dag}.py")
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
from pipelines.orchestration import tasks
from pipelines import runner
from pipelines.runner import integration, locks
from pipelines.validate import run
run._batch_definition()
print(json.dumps({"light": light, "heavy": sorted(m for m in ("geopandas",
      "great_expectations", "pyarrow", "pipelines.runner") if m in preloaded),
      "left": sorted(m for m in set(sys.modules) - preloaded
                     if m.split(".")[0] in ("pipelines", "geopandas", "great_expectations",
                                            "pandas", "pyarrow", "shapely", "pyogrio"))}))
"""


def test_airflow_celery_settings_are_kept_and_workers_preload_what_tasks_import() -> None:
    path = AIRFLOW_ENV["AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS"]
    module, _, name = path.rpartition(".")
    config = getattr(import_module(module), name)
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert config == DEFAULT_CELERY_CONFIG and config is not DEFAULT_CELERY_CONFIG

    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    # the scheduler and api-server import the setting too: nothing heavy until worker_init
    assert found["light"] == []
    assert found["heavy"] == ["geopandas", "great_expectations", "pipelines.runner", "pyarrow"]
    assert found["left"] == []  # a task process imports nothing of the pipeline after the fork
