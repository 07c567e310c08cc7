"""The integration runs' ledger: what every run and each of its stages cost, on both routes.

`audit.integration_runs` (`audit__integration_runs` in a GeoPackage) holds one row per run
(`yitu run`, or a `yitu_integrate` DagRun): route, as_of, state (planned → built → published,
or failed), the partitions it built and took over, the rows it published.
`audit.integration_stages` holds one row per stage (plan, each county's read and integrate,
publish, report): seconds, CPU seconds, rows, peak memory, and the task, host and pid that ran
it. Each task writes its own rows, keyed by (run, stage, county): concurrent county tasks never
touch each other's rows, and a retried task replaces its own. The run's row is derived from its
stage rows under a lock of that row, so the last county to finish marks the run built whatever
order they finish in.

The CLI (`integrate_and_publish`) and the Airflow tasks (`pipelines.orchestration.tasks`)
record through the same `recorder`; `yitu status --runs` shows the runs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Table, inspect, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from pipelines.runner.metrics import Stages, StageSink, stage_table
from pipelines.warehouse import Warehouse

if TYPE_CHECKING:
    from pipelines.runner.integration import IntegrationRun
    from pipelines.warehouse.staging import StagingStore

log = logging.getLogger(__name__)
STATES = ("planned", "built", "published", "failed")
ERROR_CHARS = 300  # of a failed stage's exception, scrubbed of personal data


@dataclass
class Task:
    """Who is recording: the route, the task's name and try, and the stages it recorded (the
    block its log ends with)."""

    route: str = "cli"
    name: str = "yitu run"
    dag_run_id: str | None = None
    try_number: int | None = None
    recorded: list[dict[str, Any]] = field(default_factory=list)


_TASK: ContextVar[Task | None] = ContextVar("yitu_integration_task", default=None)


def current() -> Task:
    return _TASK.get() or Task()


@contextmanager
def task(route: str, name: str, dag_run_id: str | None = None,
         try_number: int | None = None) -> Iterator[Task]:
    """The body of a task: the stages it records name it, and its log ends with them as one
    table, whether it succeeded or failed."""
    t = Task(route, name, dag_run_id, try_number)
    token = _TASK.set(t)
    try:
        yield t
    finally:
        _TASK.reset(token)
        if t.recorded:
            log.info("%s", "\n".join([f"{name}: what each stage cost",
                                      *stage_table(t.recorded)]))


def recorder(wh: Warehouse, run_id: str, county: str = "",
             rename: Mapping[str, str] | None = None) -> StageSink:
    """A `Stages` sink writing each stage of `run_id` (of `county`, for a county task) to the
    ledger as it ends; `rename` maps a `Stages` name to the ledger's."""

    def sink(name: str, entry: dict[str, Any], error: BaseException | None) -> None:
        t = current()
        ended = datetime.now(UTC)
        row = {"run_id": run_id, "stage": (rename or {}).get(name, name), "county": county,
               "task": t.name, "try_number": t.try_number, "host": socket.gethostname(),
               "pid": os.getpid(), "started_at": ended - timedelta(seconds=entry["seconds"]),
               "seconds": float(entry["seconds"]), "cpu_seconds": float(entry["cpu_seconds"]),
               "rows": None if entry.get("rows") is None else int(entry["rows"]),
               "peak_rss_mib": float(entry["peak_rss_mb"]), "error": _why(error)}
        t.recorded.append(row)
        _safely(run_id, f"stage {row['stage']}", lambda: _write_stage(wh, t, row))

    return sink


def stages(wh: Warehouse, run_id: str, county: str = "") -> Stages:
    """A `Stages` of `run_id` recorded in the ledger."""
    subject = f"integration {run_id}" + (f" partition {county}" if county else "")
    return Stages(subject, sink=recorder(wh, run_id, county))


def describe(wh: Warehouse, run: IntegrationRun, staged: StagingStore, full: bool) -> None:
    """What the run planned: as_of, the core version, the partitions built and taken over."""
    from pipelines.runner.integration import _built_from

    taken = max(len(_built_from(staged, run.run_id)) - len(run.build), 0)
    values = {"as_of": run.as_of, "core_version": run.core_version, "county": run.county,
              "full_rebuild": full, "counties": len(run.partitions),
              "partitions_built": len(run.build), "partitions_taken": taken,
              "built": json.dumps(list(run.build))}

    def write() -> None:
        runs = _ready(wh)[0]
        with wh.engine.begin() as conn:
            _hold_run(conn, wh, run.run_id, current(), datetime.now(UTC))
            conn.execute(update(runs).where(runs.c.run_id == run.run_id).values(**values))
            _settle(conn, wh, run.run_id)

    _safely(run.run_id, "plan", write)


def run_of(wh: Warehouse, dag_run_id: str) -> str | None:
    """The integration run an Airflow DagRun planned, if it recorded one."""
    runs = wh.tables.integration_runs
    if not _present(wh):
        return None
    with wh.engine.connect() as conn:
        found = conn.execute(select(runs.c.run_id).where(runs.c.dag_run_id == dag_run_id)
                             .order_by(runs.c.started_at.desc()).limit(1)).scalar()
    return None if found is None else str(found)


def list_runs(wh: Warehouse, last: int = 10) -> list[dict[str, Any]]:
    """The last `last` runs, oldest first, each with its stages in the order they started."""
    runs, stages_t = wh.tables.integration_runs, wh.tables.integration_stages
    if not _present(wh):
        return []
    with wh.engine.connect() as conn:
        found = list(conn.execute(select(runs).order_by(runs.c.started_at.desc(),
                                                        runs.c.run_id.desc())
                                  .limit(last)).mappings())[::-1]
        ids = [r["run_id"] for r in found]
        rows = conn.execute(select(stages_t).where(stages_t.c.run_id.in_(ids))
                            .order_by(stages_t.c.started_at, stages_t.c.stage,
                                      stages_t.c.county)).mappings().all()
    by_run: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for s in rows:
        by_run[s["run_id"]].append(_plain(s, drop=("run_id",)))
    out = []
    for r in found:
        run = _plain(r)
        run["built"] = json.loads(r["built"]) if r["built"] else []
        run["stages"] = by_run[r["run_id"]]
        out.append(run)
    return out


def run_lines(run: dict[str, Any]) -> list[str]:
    """One run for a person: what it was, then its stage table."""
    where = run["route"] + (f" {run['dag_run_id']}" if run.get("dag_run_id") else "")
    lines = [f"integration run {run['run_id']} ({where}): {run['state']}, started "
             f"{run['started_at']}, as of {run.get('as_of') or '?'}",
             f"  partitions built {run.get('partitions_built')}, taken over "
             f"{run.get('partitions_taken')}; rows published {run.get('rows_published')}"]
    if run.get("error"):
        lines.append(f"  failed: {run['error']}")
    return lines + stage_table(run["stages"])


# -- the tables ---------------------------------------------------------------------------------
def _present(wh: Warehouse) -> bool:
    insp = inspect(wh.engine)
    return all(insp.has_table(t.name, schema=t.schema)
               for t in (wh.tables.integration_runs, wh.tables.integration_stages))


def _ready(wh: Warehouse) -> tuple[Table, Table]:
    """The ledger's tables, created on a warehouse set up before they existed (its other
    tables and rows untouched); `yitu init` creates them with the rest."""
    runs, stages_t = wh.tables.integration_runs, wh.tables.integration_stages
    if _present(wh):
        return runs, stages_t
    try:
        with wh.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # two tasks creating them at once
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('yitu.ensure_ready'))"))
            wh.tables.metadata.create_all(conn, tables=[runs, stages_t], checkfirst=True)
            if conn.dialect.name == "sqlite":  # listed by QGIS and ogrinfo like the others
                for t in (runs, stages_t):
                    conn.execute(text("INSERT OR IGNORE INTO gpkg_contents (table_name, "
                                      "data_type, identifier) VALUES (:t, 'attributes', :t)"),
                                 {"t": t.name})
    except OperationalError:
        if not _present(wh):  # else another process created them between check and create
            raise
    return runs, stages_t


def _insert(conn: Connection, table: Table) -> Any:
    """INSERT with ON CONFLICT, in the warehouse's dialect."""
    return (postgresql.insert(table) if conn.dialect.name == "postgresql"
            else sqlite.insert(table))


def _hold_run(conn: Connection, wh: Warehouse, run_id: str, t: Task,
              started_at: datetime) -> None:
    """The run's row, created by its first record, locked until the transaction ends: the
    run's stages are settled one writer at a time."""
    runs = wh.tables.integration_runs
    conn.execute(_insert(conn, runs).values(
        run_id=run_id, route=t.route, dag_run_id=t.dag_run_id, state="planned",
        started_at=started_at).on_conflict_do_nothing(index_elements=["run_id"]))
    conn.execute(select(runs.c.run_id).where(runs.c.run_id == run_id).with_for_update())


def _write_stage(wh: Warehouse, t: Task, row: dict[str, Any]) -> None:
    stages_t = _ready(wh)[1]
    keys = ("run_id", "stage", "county")
    with wh.engine.begin() as conn:
        _hold_run(conn, wh, row["run_id"], t, row["started_at"])
        stmt = _insert(conn, stages_t).values(**row)
        conn.execute(stmt.on_conflict_do_update(  # a retried task replaces its row
            index_elements=list(keys),
            set_={k: stmt.excluded[k] for k in row if k not in keys}))
        _settle(conn, wh, row["run_id"])


def _settle(conn: Connection, wh: Warehouse, run_id: str) -> None:
    """The run's state from its stage rows: failed while a stage's last try failed; published
    once publish succeeded; built once every county task (or the CLI's one integrate stage)
    did; planned before."""
    runs, stages_t = wh.tables.integration_runs, wh.tables.integration_stages
    rows = conn.execute(select(stages_t).where(stages_t.c.run_id == run_id)).mappings().all()
    counties = conn.execute(select(runs.c.counties).where(runs.c.run_id == run_id)).scalar()
    ok = [r for r in rows if not r["error"]]
    failed = sorted((r for r in rows if r["error"]), key=_ended)
    published = next((r for r in ok if r["stage"] == "publish"), None)
    built = {r["county"] for r in ok if r["stage"] == "integrate"}
    if failed:
        state = "failed"
    elif published is not None:
        state = "published"
    elif "" in built or (counties is not None and len(built) >= counties):
        state = "built"
    else:
        state = "planned"
    first = failed[0] if failed else None
    conn.execute(update(runs).where(runs.c.run_id == run_id).values(
        state=state,
        finished_at=_ended(failed[-1]) if failed else (_ended(published) if published else None),
        rows_published=published["rows"] if published is not None else None,
        error=(f"{first['stage']}{' ' + first['county'] if first['county'] else ''}: "
               f"{first['error']}") if first else None))


def _ended(row: Mapping[Any, Any]) -> datetime:
    return _utc(row["started_at"]) + timedelta(seconds=row["seconds"])


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; the ledger writes UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _plain(row: Mapping[Any, Any], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k in drop:
            continue
        if isinstance(v, datetime):
            v = (_utc(v) if k in ("started_at", "finished_at") else v).isoformat()
        out[k] = v
    return out


def _why(error: BaseException | None) -> str | None:
    if error is None:
        return None
    from pipelines.pii import scrub_free_text

    first = (scrub_free_text(str(error)).splitlines() or [""])[0]
    return f"{type(error).__name__}: {first[:ERROR_CHARS]}".rstrip(": ")


def _safely(run_id: str, what: str, write: Callable[[], None]) -> None:
    """Record, or say in the log why not: a stage's cost never fails (nor hides the failure
    of) the stage."""
    try:
        write()
    except Exception as exc:  # noqa: BLE001
        # One line: when the warehouse went away mid-run, the run's own answer says so (a
        # clear "运行环境故障", exit 3); a traceback here would bury it. The trace at debug.
        log.warning("integration run %s: %s not recorded in the ledger: %s", run_id, what,
                    _why(exc))
        log.debug("integration run %s: %s not recorded", run_id, what, exc_info=True)
