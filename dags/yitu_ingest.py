"""Ingest: every pending department drop, one task per dataset, each updating its core Asset.

Wiring only: every task is one call into `pipelines.run`; imports happen inside the tasks so
parsing this file costs nothing.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, Param, dag, task

from pipelines.contracts import DATASETS, core_asset_uri  # light: no geo stack at parse time

CORE = {name: Asset(core_asset_uri(name), group="yitu") for name in DATASETS}


@dag(
    schedule="*/5 * * * *",
    catchup=False,
    max_active_runs=1,
    tags=["yitu", "ingest"],
    params={"dataset": Param(None, type=["null", "string"], enum=[None, *DATASETS],
                             description="only this dataset's drops")},
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": True},
)
def yitu_ingest() -> None:
    @task
    def detect(params: dict | None = None) -> int:
        from pipelines.config import settings
        from pipelines.ingest.landing import detect_drops
        from pipelines.run import warehouse

        s = settings()
        return len(detect_drops(s, warehouse(s), (params or {}).get("dataset")))

    @task
    def load(dataset: str, params: dict | None = None) -> list[dict]:
        from pipelines.config import settings
        from pipelines.run import ingest

        wanted = (params or {}).get("dataset")
        if wanted and wanted != dataset:
            return []
        return [d.as_status() for d in ingest(settings(), dataset)]

    found = detect()
    for name in DATASETS:
        found >> load.override(task_id=f"load_{name}", outlets=[CORE[name]])(name)


yitu_ingest()
