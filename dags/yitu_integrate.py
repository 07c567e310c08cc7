"""Integrate and publish: runs when a core dataset changed; one mapped task per county.

Wiring only: each task is one call into `pipelines.run`.
"""

from __future__ import annotations

import re
from datetime import timedelta

from airflow.sdk import Asset, dag, get_current_context, task

from pipelines.contracts import DATASETS, core_asset_uri  # light: no geo stack at parse time

CORE = [Asset(core_asset_uri(name), group="yitu") for name in DATASETS]
PUBLISHED = Asset("yitu://publish/layers", group="yitu")


def _run_key() -> str:
    # Staging folder per DagRun: a rerun of the same run overwrites its own partitions.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", get_current_context()["run_id"])


@dag(
    schedule=CORE[0] | CORE[1] | CORE[2] | CORE[3] | CORE[4],
    catchup=False,
    max_active_runs=1,
    tags=["yitu", "integrate"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": True},
)
def yitu_integrate() -> None:
    @task
    def counties() -> list[str]:
        from pipelines.config import settings
        from pipelines.run import county_partitions

        return county_partitions(settings())

    @task(map_index_template="{{ task.op_kwargs['county'] }}")
    def integrate_county(county: str) -> str:
        from pipelines.config import settings
        from pipelines.run import integrate_partition

        return integrate_partition(settings(), _run_key(), county)

    @task(outlets=[PUBLISHED])
    def publish() -> dict[str, int]:
        from pipelines.config import settings
        from pipelines.run import publish_run

        return publish_run(settings(), _run_key())

    @task
    def report() -> str:
        from pipelines.config import settings
        from pipelines.run import report as write_report

        return str(write_report(settings()).index)

    parts = integrate_county.expand(county=counties())
    parts >> publish() >> report()


yitu_integrate()
