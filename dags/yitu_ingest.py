"""Ingest: one DAG per dataset, run when a department's file is ready in its landing folder.

An AssetWatcher per dataset (pipelines.orchestration.triggers, in the triggerer: no worker slot
is held while waiting) updates the landing Asset; the DAG archives the ready files, answers
every pending drop in the order received, and updates the dataset's core Asset when rows were
loaded. Manual run: param drop_id processes a rejected drop already in raw/ again.

Wiring only: each task is one call into pipelines.orchestration.tasks, imported inside the
task so parsing this file costs nothing.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetWatcher, Param, dag, task

from pipelines.contracts import DATASETS, core_asset_uri  # light: no geo stack at parse time
from pipelines.orchestration.docs import dag_doc, dataset_doc, description, owner, task_doc
from pipelines.orchestration.policy import task_defaults
from pipelines.orchestration.triggers import LandingDropTrigger


def landing_asset(dataset: str) -> Asset:
    watcher = AssetWatcher(name=f"yitu_landing_{dataset}",
                           trigger=LandingDropTrigger(dataset=dataset))
    return Asset(f"yitu://landing/{dataset}", group="yitu", watchers=[watcher])


def ingest_dag(dataset: str) -> None:
    @dag(
        dag_id=f"yitu_ingest_{dataset}",
        description=f"{description(__doc__)} ({dataset})",
        doc_md=f"{dag_doc(__doc__)}\n\n{dataset_doc(dataset)}",
        schedule=[landing_asset(dataset)],
        catchup=False,
        max_active_runs=1,
        tags=["yitu", "ingest"],
        params={"drop_id": Param(None, type=["null", "string"],
                                 description=f"process this rejected {dataset} drop again")},
        default_args={**task_defaults(), "owner": owner(dataset)},
    )
    def ingest() -> None:
        @task
        def detect(params: dict | None = None) -> list[str]:
            """Archive the ready files of the dataset's landing folder into raw/ and the drops
            ledger (a file already received, by its sha256, is not taken twice); the new drop
            ids. Nothing to do on a manual run for one drop_id."""
            from pipelines.orchestration import tasks

            return [] if (params or {}).get("drop_id") else tasks.detect(dataset)

        @task(outlets=[Asset(core_asset_uri(dataset), group="yitu")])
        def load(params: dict | None = None) -> list[dict]:
            """Answer every pending drop in the order received: read, validate, load the good
            rows into core (one transaction per drop), quarantine the bad ones and write the
            department's answer. Updates the dataset's core Asset when rows were loaded."""
            from pipelines.orchestration import tasks

            return tasks.load(dataset, (params or {}).get("drop_id"))

        detect.override(doc_md=task_doc(detect.function.__doc__, dataset))() \
            >> load.override(doc_md=task_doc(load.function.__doc__, dataset))()

    ingest()


for _name in DATASETS:
    ingest_dag(_name)
