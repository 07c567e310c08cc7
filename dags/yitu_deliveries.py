"""Deliveries: every day, one task per dataset that fails when the department's delivery is
late or missing against the cadence in its contract (the quality report shows the same).

Airflow's Deadline Alerts watch DagRuns; a delivery that never arrives starts no DagRun, so the
check is a DAG of its own. Wiring only: each task is one call into pipelines.orchestration.tasks.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from pipelines.contracts import DATASETS  # light: no geo stack at parse time
from pipelines.orchestration.docs import DATA_TEAM, dag_doc, description, owner, task_doc
from pipelines.orchestration.policy import task_defaults


@dag(
    schedule="0 1 * * *",  # 09:00 in Hainan (UTC+8), at the start of the working day
    catchup=False,
    max_active_runs=1,
    tags=["yitu", "deliveries"],
    description=description(__doc__),
    doc_md=dag_doc(__doc__),
    default_args={**task_defaults(), "owner": DATA_TEAM},
)
def yitu_deliveries() -> None:
    @task
    def due(dataset: str) -> dict:
        """Fails when the department's delivery of this dataset is late or missing against
        the cadence of its contract; the quality report shows the same."""
        from pipelines.orchestration import tasks

        return tasks.deliveries_due(dataset)

    for name in DATASETS:
        due.override(task_id=f"due_{name}", owner=owner(name),
                     doc_md=task_doc(due.function.__doc__, name))(name)


yitu_deliveries()
