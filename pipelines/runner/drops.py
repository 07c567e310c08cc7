"""Answering drops: the order they are taken in, and one drop through read, validate, load."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pandas as pd

from pipelines import pii
from pipelines.config import Settings
from pipelines.contracts import county_layer, load_contract, load_region
from pipelines.failpoints import failpoint
from pipelines.load import judge, load_rows, reject_file
from pipelines.load.answer import write_rejection_report
from pipelines.read.conform import conform
from pipelines.read.errors import FileRejected
from pipelines.read.formats import open_delivery
from pipelines.runner.faults import mark_failed
from pipelines.runner.metrics import Stages
from pipelines.validate.run import validate_frame
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.counties import current_counties
from pipelines.warehouse.ledger import DropRecord

log = logging.getLogger(__name__)


def pii_key(settings: Settings) -> bytes:
    # On the embedded default a key may be generated; a PostGIS warehouse needs a configured one.
    return pii.load_key(settings.home, settings.pii_key, allow_generate=settings.embedded)


def answer_order(datasets: list[str]) -> list[str]:
    """The datasets to answer for `datasets`, in order: the counties first whenever a dataset
    places its rows on them (points told GCJ-02 from CGCS2000 by the county they fall in, a
    stated county checked against the location), so CLI and Airflow check alike."""
    counties = county_layer()
    needs = counties is not None and any(load_contract(d).places_rows for d in datasets)
    first = [counties.dataset] if needs and counties is not None else []
    return first + [d for d in datasets if d not in first]


def pending(wh: Warehouse, dataset: str) -> list[DropRecord]:
    """A dataset's pending drops in the order received: a later snapshot never overtakes."""
    return sorted(ledger.list_drops(wh, state="pending", dataset=dataset),
                  key=lambda r: (r.received_at, r.drop_id))


def answer_drop(settings: Settings, wh: Warehouse, drop_id: str) -> DropRecord:
    """Read, validate and load one pending drop; a drop already answered is left as it is."""
    rec = ledger.get_drop(wh, drop_id)
    if rec.state != "pending":
        return rec  # already answered: a rerun changes nothing
    contract = load_contract(rec.dataset)
    workdir = settings.scratch / "work" / drop_id  # this machine's own disk, not the shared one
    shutil.rmtree(workdir, ignore_errors=True)  # left half-unpacked by a run that was killed
    cost = Stages(f"drop {drop_id}")
    try:
        with cost.stage("read") as read:
            raw = open_delivery(Path(rec.raw_path), contract, workdir)
            # how close the file came to the reading child's ceiling (None: parsed here)
            read["child_peak_mb"] = raw.peak_rss_mb
            failpoint("read.done")
            counties = current_counties(wh) if contract.places_rows else None
            counties = None if counties is None or counties.empty else counties
            conformed = conform(raw, contract, load_region(), pii_key(settings),
                                counties=counties if contract.geometry_from_columns else None)
            del raw  # the file's own columns, as big as the conformed frame: not needed past here
            read["rows"] = len(conformed.frame)
        rec.notes = {**ledger.received_notes(rec), **conformed.notes}
        with cost.stage("validate", len(conformed.frame)):
            outcome = validate_frame(contract, conformed.frame, clear_ids=conformed.clear_ids,
                                     counties=counties)
        conformed.clear_ids.clear()  # the clear ID numbers are not needed past validation
        if outcome.skipped:
            rec.notes["skipped_checks"] = [{k: s[k] for k in ("rule", "field", "reason")}
                                           for s in outcome.skipped]
    except FileRejected as exc:
        rec.notes["stages"] = cost.record
        reject_file(settings, wh, rec, contract, exc.as_error())
        log.info("drop %s (%s): rejected: %s", drop_id, rec.file, exc)
        return rec
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rec.notes["stages"] = cost.record
    verdict = judge(contract, conformed.frame, conformed.failures, outcome)
    with cost.stage("load", len(verdict.good)):
        load_rows(settings, wh, rec, contract, conformed.frame, verdict, outcome, counties)
    with wh.engine.begin() as conn:  # the load's own cost, now that it is known
        ledger.save_notes(conn, wh, rec)
    log.info("drop %s (%s): %s, %s read, %s loaded, %s quarantined, %s flagged", drop_id,
             rec.file, rec.state, rec.rows_read, rec.rows_loaded, rec.rows_quarantined,
             rec.rows_flagged)
    return rec




def record_failure(settings: Settings, wh: Warehouse, rec: DropRecord,
                   exc: Exception) -> DropRecord:
    """Answering the drop crashed on something of its own: it is `failed`, kept for a retry,
    and the department is told the fault is not theirs."""
    if rec.state != "pending":
        return rec  # answered after all (the crash came after its outcome was saved)
    mark_failed(rec, exc)
    with wh.engine.begin() as conn:
        ledger.save_outcome(conn, wh, rec)
    write_rejection_report(settings, rec, pd.DataFrame(), load_contract(rec.dataset))
    return rec
