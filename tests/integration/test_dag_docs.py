"""What Airflow's UI shows a data engineer about yitu's DAGs: every DAG and every task with its
documentation (doc_md, from the DAG modules' docstrings and the dataset contracts), a
description, and the department that answers for it as owner. Checked through the REST API by
test_scheduler.py's running api-server (`assert_documented_through_the_api`), and here on the
parsed DAGs."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from pipelines.contracts import DATASETS, load_contract
from pipelines.orchestration.docs import DATA_TEAM
from tests.conftest import ROOT
from tests.integration.airflow_services import Airflow

YITU_DAGS = [*(f"yitu_ingest_{d}" for d in DATASETS), "yitu_integrate", "yitu_deliveries"]


def expected_owners(dag_id: str, task_id: str) -> str:
    if dag_id.startswith("yitu_ingest_"):
        return load_contract(dag_id.removeprefix("yitu_ingest_")).department
    if task_id.startswith("due_"):
        return load_contract(task_id.removeprefix("due_")).department
    return DATA_TEAM


def assert_documented_through_the_api(af: Airflow) -> None:
    """Every yitu DAG and task, as the REST API serves them: doc_md, description, owners."""
    af.dags_parsed(YITU_DAGS)
    for dag_id in YITU_DAGS:
        details: dict[str, Any] = af.get(f"/api/v2/dags/{dag_id}/details")
        assert (details.get("doc_md") or "").strip(), dag_id
        assert (details.get("description") or "").strip(), dag_id
        assert "airflow" not in details["owners"], (dag_id, details["owners"])
        tasks = af.get(f"/api/v2/dags/{dag_id}/tasks")["tasks"]
        assert tasks, dag_id
        for t in tasks:
            assert (t.get("doc_md") or "").strip(), (dag_id, t["task_id"])
            assert t["owner"] == expected_owners(dag_id, t["task_id"]), (dag_id, t["task_id"])


PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {str(k): str(v) for k, v in bag.import_errors.items()},
                  "dags": {d.dag_id: {"doc_md": d.doc_md, "description": d.description,
                                      "tasks": {t.task_id: [t.doc_md, t.owner] for t in d.tasks}}
                           for d in bag.dags.values()}}, ensure_ascii=False))
"""


def test_parsed_dags_carry_docs_and_departments(tmp_path: Any) -> None:
    import json
    import os

    out = subprocess.run([sys.executable, "-c", PARSE, str(ROOT / "dags")], check=True,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "AIRFLOW_HOME": str(tmp_path)}).stdout
    parsed = json.loads(out.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert sorted(parsed["dags"]) == sorted(YITU_DAGS)
    for dag_id, dag in parsed["dags"].items():
        assert dag["doc_md"].strip() and dag["description"].strip(), dag_id
        for task_id, (doc_md, owner) in dag["tasks"].items():
            assert doc_md and doc_md.strip(), (dag_id, task_id)
            assert owner == expected_owners(dag_id, task_id), (dag_id, task_id)
    # the contract's words reach the tasks that handle its dataset
    complaints = parsed["dags"]["yitu_ingest_complaints"]["tasks"]["load"][0]
    assert load_contract("complaints").title in complaints
