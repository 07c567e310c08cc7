"""One function per Airflow task: the lock, the call into the pipeline, the log line, and
the answer Airflow understands (skip when nothing changed, fail without retry when retrying
cannot help). The DAG files call these and nothing else.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipelines import ledger
from pipelines.config import Settings, settings
from pipelines.contracts import load_contract
from pipelines.ledger import DropRecord
from pipelines.orchestration.locks import exclusive
from pipelines.orchestration.policy import is_transient
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)
PLACED_ON = "admin_divisions"  # point datasets are placed on the counties it delivers


def ingest_lock(dataset: str) -> str:
    return f"yitu.ingest.{dataset}"


def drop_line(rec: DropRecord, outcome: str | None = None) -> str:
    """The one log line per drop that a data engineer greps for."""
    return (f"drop {rec.drop_id} {rec.dataset} {rec.file}: {outcome or rec.state} "
            f"loaded={rec.rows_loaded or 0} quarantined={rec.rows_quarantined or 0}")


def detect(dataset: str) -> list[str]:
    """Archive the ready files of landing/<dataset>/ into raw/ and the ledger; the drop ids."""
    from pipelines.ingest.landing import detect_drops
    from pipelines.run import warehouse

    s = settings()
    wh = warehouse(s)
    with exclusive(s, ingest_lock(dataset)):
        found = detect_drops(s, wh, dataset)
    for rec in found:
        if rec.state == "pending":
            log.info("drop %s %s %s: received, archived in raw/", rec.drop_id, rec.dataset,
                     rec.file)
        else:  # a duplicate is answered here, once and for all
            log.info(drop_line(rec))
    return [rec.drop_id for rec in found]


def load(dataset: str, drop_id: str | None = None) -> list[dict[str, Any]]:
    """Answer the dataset's pending drops in the order received (or `drop_id` again).

    A rejected file is a normal outcome: the department has its answer in the rejection
    report. Raises AirflowSkipException when nothing was loaded, so the core Asset is updated
    (and integration scheduled) only when core data changed.
    """
    from pipelines.run import warehouse

    s = settings()
    wh = warehouse(s)
    answered: list[DropRecord] = []
    if dataset != PLACED_ON and load_contract(dataset).geometry_from_columns:
        # Points are told GCJ-02 from CGCS2000 by the counties: load waiting counties first.
        answered += _catch_up(s, wh, PLACED_ON)
    with exclusive(s, ingest_lock(dataset)):
        if drop_id:
            answered.append(_reprocess(s, wh, dataset, drop_id))
        else:
            answered += _answer_pending(s, wh, dataset)
    if not any(rec.state == "loaded" for rec in answered):
        raise AirflowSkipException(f"{dataset}: no drop loaded ({len(answered)} answered), "
                                   "core unchanged")
    return [_summary(rec) for rec in answered]


def _catch_up(s: Settings, wh: Warehouse, dataset: str) -> list[DropRecord]:
    from pipelines.ingest.landing import detect_drops

    with exclusive(s, ingest_lock(dataset)):
        detect_drops(s, wh, dataset)
        return _answer_pending(s, wh, dataset)


def _answer_pending(s: Settings, wh: Warehouse, dataset: str) -> list[DropRecord]:
    pending = sorted(ledger.list_drops(wh, state="pending", dataset=dataset),
                     key=lambda r: r.received_at)
    # In order, stopping at a failure: a later snapshot must never be overtaken by an older one.
    return [_answer(s, wh, rec) for rec in pending]


def _answer(s: Settings, wh: Warehouse, rec: DropRecord) -> DropRecord:
    from pipelines.ingest.process import process_drop

    try:
        done = process_drop(s, wh, rec.drop_id)
    except Exception as exc:
        _fail(rec, exc)
    log.info(drop_line(done))
    return done


def _reprocess(s: Settings, wh: Warehouse, dataset: str, drop_id: str) -> DropRecord:
    from pipelines.config import UsageError
    from pipelines.run import reprocess

    try:
        rec = ledger.get_drop(wh, drop_id)
    except KeyError as exc:
        raise AirflowFailException(f"no drop {drop_id!r} in the ledger") from exc
    if rec.dataset != dataset:
        raise AirflowFailException(f"drop {drop_id} is a {rec.dataset} drop, not {dataset}")
    try:
        done = reprocess(s, drop_id, wh)
    except UsageError as exc:
        raise AirflowFailException(f"drop {drop_id}: {exc}") from exc
    except Exception as exc:
        _fail(rec, exc)
    log.info(drop_line(done))
    return done


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


def counties(county: str | None = None) -> list[str]:
    from pipelines.run import county_partitions

    return county_partitions(settings(), county or None)


def integrate_county(run_key: str, county: str) -> str:
    from pipelines.run import integrate_partition

    s = settings()
    with exclusive(s, f"yitu.integrate.{county}"):
        return integrate_partition(s, run_key, county)


def publish(run_key: str, county: str | None = None) -> dict[str, int]:
    from pipelines.run import publish_run

    s = settings()
    with exclusive(s, "yitu.publish"):
        counts = publish_run(s, run_key, county or None)
    log.info("published %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
    return counts


def report() -> str:
    from pipelines.run import report as write_report

    s = settings()
    with exclusive(s, "yitu.report"):
        return str(write_report(s).index)


def deliveries_due(dataset: str, now: datetime | None = None) -> dict[str, Any]:
    """Fail when the dataset's delivery is late or missing against its contract's cadence."""
    from pipelines.orchestration.deliveries import timeliness
    from pipelines.report.timeliness import CADENCE_LABELS
    from pipelines.run import warehouse

    t = timeliness(warehouse(settings()), dataset, now)
    line = (f"{dataset}: {t.status} ({t.label}); cadence {t.cadence} "
            f"({CADENCE_LABELS[t.cadence]}), last delivery "
            f"{t.last_delivery.isoformat() if t.last_delivery else 'never'}, next due "
            f"{t.expected_next.date().isoformat() if t.expected_next else 'now'}")
    if t.status != "on time":
        log.error(line)
        raise AirflowFailException(line)
    log.info(line)
    return {"dataset": dataset, "status": t.status, "cadence": t.cadence}
