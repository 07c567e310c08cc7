"""Integrate and publish: runs when a core dataset changed; one mapped task per county.

The run's state (as_of, partitions) is planned once and passed to every task. Only the
partitions whose inputs changed since the published run are built (param full: all).

Manual run: param county integrates that county's partition only; publish merges it with the
other counties' partitions behind the layers already published, so they stay whole.

Wiring only: each task is one call into pipelines.orchestration.tasks.
"""

from __future__ import annotations

import operator
import re
from functools import reduce

from airflow.sdk import Asset, Param, dag, get_current_context, task

from pipelines.contracts import DATASETS, core_asset_uri  # light: no geo stack at parse time
from pipelines.orchestration.docs import DATA_TEAM, dag_doc, description, task_doc
from pipelines.orchestration.policy import task_defaults

CORE = [Asset(core_asset_uri(name), group="yitu") for name in DATASETS]
PUBLISHED = Asset("yitu://publish/layers", group="yitu")


def _run_key() -> str:
    # Staging folder per DagRun: a rerun of the same run overwrites its own partitions.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", get_current_context()["run_id"])


@dag(
    schedule=reduce(operator.or_, CORE),
    catchup=False,
    max_active_runs=1,
    tags=["yitu", "integrate"],
    params={"county": Param(None, type=["null", "string"],
                            description="only this county partition (a 6-digit code, or "
                                        "'unlocated')"),
            "full": Param(False, type="boolean",
                          description="rebuild every partition, even those whose inputs did "
                                      "not change since the published run")},
    description=description(__doc__),
    doc_md=dag_doc(__doc__),
    default_args={**task_defaults(), "owner": DATA_TEAM},
)
def yitu_integrate() -> None:
    @task
    def plan(params: dict | None = None) -> list[dict]:
        """The run's state, made once: as_of, and one job per county partition whose inputs
        changed since the published run (param county: that one; param full: all)."""
        from pipelines.orchestration import tasks

        return tasks.plan(_run_key(), (params or {}).get("county"),
                          bool((params or {}).get("full")))

    @task(map_index_template="{{ task.op_kwargs['job']['county'] }}")
    def integrate_county(job: dict) -> str:
        """One county's partition of every layer: the farmland overlay, conflicts, licences and
        work orders placed and joined; staged for publish. Safe to run twice at once."""
        from pipelines.orchestration import tasks

        return tasks.integrate_county(job)

    @task(outlets=[PUBLISHED])
    def publish(jobs: list[dict]) -> dict[str, int]:
        """Merge the staged partitions with the counties already published and swap every
        layer in together (never half-built); the rows per layer."""
        from pipelines.orchestration import tasks

        return tasks.publish(jobs)

    @task
    def report() -> str:
        """The data-quality report (per department, per delivery, over time)."""
        from pipelines.orchestration import tasks

        return tasks.report()

    jobs = plan()
    # A mapped task does not take its docstring as doc_md by itself.
    counties = integrate_county.override(doc_md=task_doc(integrate_county.function.__doc__))
    counties.expand(job=jobs) >> publish(jobs) >> report()


yitu_integrate()
