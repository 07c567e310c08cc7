"""What Airflow's UI says about a yitu DAG and its tasks (doc_md, description, owner), from
the DAG modules' docstrings and the dataset contracts. Light: the contracts are already read
when `pipelines.contracts` is imported, so a DAG file parses as fast as before."""

from __future__ import annotations

from pipelines.contracts import load_contract

# Integration and publishing serve every department: the data team answers for them.
DATA_TEAM = "数据管理组"
CADENCE_ZH = {"daily": "每日", "weekly": "每周", "monthly": "每月", "quarterly": "每季度",
              "yearly": "每年"}


def dag_doc(module_doc: str | None) -> str:
    """The DAG's doc_md: its module docstring, which says what it does and how to run it."""
    if not module_doc or not module_doc.strip():
        raise ValueError("a yitu DAG module needs a docstring: it is the DAG's documentation")
    return module_doc.strip()


def description(module_doc: str | None) -> str:
    """The one-line description Airflow lists DAGs by: the docstring's first sentence."""
    first = dag_doc(module_doc).split("\n\n", 1)[0].replace("\n", " ").split(". ", 1)[0]
    return first.rstrip(".")


def owner(dataset: str) -> str:
    """The department that delivers the dataset answers for its DAG and tasks."""
    return load_contract(dataset).department


def dataset_doc(dataset: str) -> str:
    """A dataset's contract in brief, for the doc_md of the tasks that handle it."""
    c = load_contract(dataset)
    cadence = CADENCE_ZH.get(c.cadence, c.cadence)
    fields = "、".join(f.label for f in c.fields)
    return (f"**{c.title}**（{c.title_en}，`{c.dataset}`）由**{c.department}**{cadence}报送；"
            f"契约 `schemas/{c.dataset}.yml`。字段：{fields}。")


def task_doc(function_doc: str | None, dataset: str | None = None) -> str:
    """A task's doc_md: what the task does (its function's docstring), then the contract of
    the dataset it handles."""
    text = (function_doc or "").strip()
    if not text:
        raise ValueError("a yitu task needs a docstring: it is the task's documentation")
    return f"{text}\n\n{dataset_doc(dataset)}" if dataset else text
