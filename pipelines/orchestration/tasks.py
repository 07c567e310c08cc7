"""One function per Airflow task: the call into the runner, the log line, and the answer
Airflow understands (skip when nothing changed, fail without retry when retrying cannot help).
The DAG files call these and nothing else; the order rules and locks are the runner's.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn, ParamSpec, TypeVar

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipelines.config import UsageError, settings
from pipelines.orchestration.policy import is_transient
from pipelines.stack import roomy
from pipelines.warehouse.ledger import DropRecord

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def own_process() -> None:
    """Make this task's process its own, as multiprocessing sees it.

    Airflow's Celery worker runs a task in a process that the Task SDK's supervisor forks
    (os.fork) from one of Celery's pool workers, and multiprocessing's record of the current
    process comes along: billiard's pool worker, daemonic, with billiard's authentication key.
    A daemonic process may start no child, so every reader parsed a department's file in the
    task process itself, without the reading child's memory ceiling and time limit
    (`pipelines.read.isolate`), the parse's allocations left in the task's heap (the county
    parcels' load task, alone on a worker at 1x: validate 18.8 and load 56.2 CPU s, then 14.8
    and 40.0 with the files parsed in the child). The task process
    is not that worker: billiard neither started it nor will terminate it, and it waits for
    its own children. So it is recorded as not daemonic, with its key as one multiprocessing
    may hand a child (billiard's kind of key refuses to be pickled for a multiprocessing
    child) and with no children yet, as multiprocessing's own bootstrap records a process it
    starts (there is no public call for it; billiard sets the same attributes); a reading
    forkserver the worker had started would be the worker's, so none is known yet either
    (`isolate.after_fork`). Outside a Celery worker (the CLI, `dag.test`) nothing is daemonic
    and nothing changes."""
    from multiprocessing import process

    from pipelines.read import isolate

    current = multiprocessing.current_process()
    if current.daemon:
        current.daemon = False
        current._config["authkey"] = process.AuthenticationString(  # type: ignore[attr-defined]
            bytes(current.authkey))
        process._children = set()  # type: ignore[attr-defined]  # the pool worker's, not ours
        isolate.after_fork()


def task_process(fn: Callable[P, R]) -> Callable[P, R]:
    """A task function: `own_process` first, then the function on a frame stack with room
    for it (`pipelines.stack`: beneath the frames of Celery, the Task SDK and the
    operator, the validation of each drop crossed a chunk boundary of the stack thousands of
    times)."""
    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        own_process()
        return roomy(fn, *args, **kwargs)
    return run


def drop_line(rec: DropRecord, outcome: str | None = None) -> str:
    """The one log line per drop that a data engineer greps for."""
    return (f"drop {rec.drop_id} {rec.dataset} {rec.file}: {outcome or rec.state} "
            f"loaded={rec.rows_loaded or 0} quarantined={rec.rows_quarantined or 0}")


@task_process
def detect(dataset: str) -> list[str]:
    """Archive the ready files of landing/<dataset>/ into raw/ and the ledger; the drop ids."""
    from pipelines import runner

    s = settings()
    found = runner.detect(s, runner.warehouse(s), [dataset])
    for rec in found:
        if rec.state == "pending":
            log.info("drop %s %s %s: received, archived in raw/", rec.drop_id, rec.dataset,
                     rec.file)
        else:  # a duplicate is answered here, once and for all
            log.info(drop_line(rec))
    return [rec.drop_id for rec in found]


@task_process
def load(dataset: str, drop_id: str | None = None) -> list[dict[str, Any]]:
    """Answer the dataset's pending drops in the order received (or `drop_id` again).

    A rejected file is a normal outcome: the department has its answer in the rejection
    report. Raises AirflowSkipException when nothing was loaded, so the core Asset is updated
    (and integration scheduled) only when core data changed.
    """
    from pipelines import runner

    s = settings()
    wh = runner.warehouse(s)
    if drop_id:
        answered = [_reprocess(dataset, drop_id)]
    else:
        answered = runner.answer_pending(s, wh, [dataset], on_failure=_fail)
    for rec in answered:
        log.info(drop_line(rec))
    if any(rec.state in ("rejected", "failed") for rec in answered):
        from pipelines.alerts import send_alerts

        send_alerts(s, wh)  # the department hears of its refused file now, not at the next publish
    if not any(rec.state == "loaded" for rec in answered):
        # No asset event: an integration run per ingest that changed nothing would be waste.
        # (Layers left stale by a crash after a load are published by the next integration
        # run, whatever starts it: publish_run marks the core version it showed.)
        raise AirflowSkipException(f"{dataset}: no drop loaded ({len(answered)} answered), "
                                   "core unchanged")
    return [_summary(rec) for rec in answered]


def _reprocess(dataset: str, drop_id: str) -> DropRecord:
    from pipelines import runner
    from pipelines.warehouse import ledger

    s = settings()
    try:
        rec = ledger.get_drop(runner.warehouse(s), drop_id)
    except KeyError as exc:
        raise AirflowFailException(f"no drop {drop_id!r} in the ledger") from exc
    if rec.dataset != dataset:
        raise AirflowFailException(f"drop {drop_id} is a {rec.dataset} drop, not {dataset}")
    try:
        return runner.reprocess(s, drop_id)
    except UsageError as exc:
        raise AirflowFailException(f"drop {drop_id}: {exc}") from exc
    except Exception as exc:
        _fail(rec, exc)


def _fail(rec: DropRecord, exc: Exception) -> NoReturn:
    """Transient errors go back to Airflow to retry; anything else fails this drop for good."""
    if is_transient(exc):
        log.warning(drop_line(rec, f"warehouse unreachable, retrying ({type(exc).__name__})"))
        raise exc
    log.error(drop_line(rec, f"failed ({type(exc).__name__}); the drop stays pending and "
                        f"later {rec.dataset} drops wait behind it"))
    raise AirflowFailException(f"drop {rec.drop_id} {rec.dataset} {rec.file}: processing "
                               f"crashed with {type(exc).__name__}; fix and reprocess it "
                               "(param drop_id)") from exc


def _summary(rec: DropRecord) -> dict[str, Any]:
    # Small enough for XCom: the full answer is in the ledger and the rejection report.
    return {"drop_id": rec.drop_id, "file": rec.file, "state": rec.state,
            "rows_loaded": rec.rows_loaded, "rows_quarantined": rec.rows_quarantined}


@task_process
def plan(run_key: str, county: str | None = None, full: bool = False) -> list[dict[str, Any]]:
    """The integration run's state, made once: one job per county with partitions to build,
    each carrying it (one job building nothing when every partition is taken over)."""
    from pipelines import runner
    from pipelines.runner import runlog
    from pipelines.runner.integration import store

    s = settings()
    wh = runner.warehouse(s)
    with _recorded("plan"):
        staged = store(s, wh)
        with runlog.stages(wh, run_key).stage("plan"):
            run = runner.plan_run(wh, run_key, county or None, staging=staged, full=full)
        runlog.describe(wh, run, staged, full)
    shown = ", ".join(run.build[:12]) + (" …" if len(run.build) > 12 else "")
    log.info("integration run %s: as of %s, %d partition(s) of %d county(ies) to build: %s",
             run.run_id, run.as_of.isoformat(), len(run.build), len(run.partitions),
             shown or "none")
    return [{"run": run.as_xcom(), "county": code} for code in run.partitions or ("",)]


@task_process
def integrate_county(job: dict[str, Any]) -> str:
    from pipelines import runner
    from pipelines.runner.locks import exclusive

    s = settings()
    run, county = runner.IntegrationRun.from_xcom(job["run"]), str(job["county"] or "")
    if not county:
        log.info("integration run %s: every partition taken from the published run", run.run_id)
        return "nothing to build"
    with _recorded("integrate_county"), exclusive(s, f"yitu.integrate.{county}"):
        return str(runner.integrate_partition(s, runner.warehouse(s), run, county))


@task_process
def publish(jobs: list[dict[str, Any]]) -> dict[str, int]:
    from pipelines import runner
    from pipelines.runner.locks import exclusive

    if not jobs:
        raise AirflowSkipException("no county partition to integrate: nothing to publish")
    from pipelines.runner import runlog

    s = settings()
    wh = runner.warehouse(s)
    run = runner.IntegrationRun.from_xcom(jobs[0]["run"])
    with (_recorded("publish"), exclusive(s, "yitu.publish"),
          runlog.stages(wh, run.run_id).stage("publish") as published):
        counts = runner.publish_run(s, wh, run)
        published["rows"] = sum(counts.values())
    log.info("published %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


@task_process
def report() -> str:
    """The quality report; in an integration DagRun, recorded as its run's last stage."""
    from pipelines import runner
    from pipelines.runner import runlog

    s = settings()
    wh = runner.warehouse(s)
    dag_run_id = _airflow_task().get("dag_run_id")
    run_id = runlog.run_of(wh, str(dag_run_id)) if dag_run_id else None
    if run_id is None:
        return str(runner.report(s, wh=wh).index)
    with _recorded("report"), runlog.stages(wh, run_id).stage("report"):
        paths = runner.report(s, wh=wh)
    return str(paths.index)


def _airflow_task() -> dict[str, Any]:
    """The running task's DagRun, task id and try, as Airflow knows them ({} outside a task:
    a test or a tool calling these functions directly)."""
    from airflow.sdk import get_current_context

    try:
        ctx = get_current_context()
    except RuntimeError:
        return {}
    ti = ctx.get("ti")
    return {"dag_run_id": ctx.get("run_id"), "task_id": getattr(ti, "task_id", None),
            "try_number": getattr(ti, "try_number", None)}


@contextmanager
def _recorded(name: str) -> Iterator[None]:
    """The task's stages in the integration runs' ledger under its Airflow task id and try,
    and its log ending with them as one table."""
    from pipelines.runner import runlog

    found = _airflow_task()
    with runlog.task("airflow", str(found.get("task_id") or name), found.get("dag_run_id"),
                     found.get("try_number")):
        yield


@task_process
def deliveries_due(dataset: str, now: datetime | None = None) -> dict[str, Any]:
    """Fail when the dataset's delivery is late or missing against its contract's cadence."""
    from pipelines import runner
    from pipelines.orchestration.deliveries import timeliness
    from pipelines.report.timeliness import CADENCE_LABELS

    s = settings()
    wh = runner.warehouse(s)
    t = timeliness(wh, dataset, now)
    line = (f"{dataset}: {t.status} ({t.label}); cadence {t.cadence} "
            f"({CADENCE_LABELS[t.cadence]}), last delivery "
            f"{t.last_delivery.isoformat() if t.last_delivery else 'never'}, next due "
            f"{t.expected_next.date().isoformat() if t.expected_next else 'now'}")
    if t.status != "on time":
        log.error(line)
        from pipelines.alerts import send_alerts

        send_alerts(s, wh)  # the clerks and monitors are told (once), not only Airflow's log
        raise AirflowFailException(line)
    log.info(line)
    return {"dataset": dataset, "status": t.status, "cadence": t.cadence}
