"""Load: a drop's answer made permanent. The versioned write into core, the ledger outcome,
the quarantined and flagged rows, the change report and the files sent back to the department.

`load_rows` takes a read and validated delivery; `reject_file` answers a file refused whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, delete, insert

from pipelines.config import Settings
from pipelines.contracts import Contract, load_contract
from pipelines.failpoints import failpoint
from pipelines.load.answer import keep_validation_result, row_reasons, write_rejection_report
from pipelines.load.changes import record_changes
from pipelines.load.quarantine import not_already_failed, store_quarantine
from pipelines.reasons import whole_file
from pipelines.validate.run import ValidationOutcome
from pipelines.validate.suite import ROW_ID_COLUMN
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.ledger import DropRecord
from pipelines.warehouse.versions import scope_of

__all__ = ["changes_recorded_later", "complete_loaded", "judge", "load_rows", "reject_file",
           "Verdict"]
log = logging.getLogger(__name__)
LEDGER_ERROR_LIMIT = 1000  # the full list is in dq.quarantine and the rejection report


@dataclass(frozen=True)
class Verdict:
    """What a delivery's reasons decide: the rows to load, flagged, or nothing at all."""

    loaded: bool
    good: gpd.GeoDataFrame  # rows to load, with `_flags`, `_source_row`
    failures: pd.DataFrame  # every reason found reading and validating, one per row/rule/field
    fail_rows: set[int]
    share_failed: float


def judge(contract: Contract, frame: gpd.GeoDataFrame, read_failures: pd.DataFrame,
          outcome: ValidationOutcome) -> Verdict:
    found = not_already_failed(outcome.failures, read_failures)
    if read_failures.empty or found.empty:
        failures = found if read_failures.empty else read_failures
    else:
        # In the validation table's dtypes: concatenated with the object columns of the read
        # failures, its Arrow strings would become one Python object per cell (114 MB more
        # for a file of 300,000 bad rows).
        failures = pd.concat([read_failures.astype(found.dtypes.to_dict()), found],
                             ignore_index=True)
    fail_rows = set(failures.loc[failures["severity"] == "fail", "source_row"].astype(int))
    share = len(fail_rows) / max(1, len(frame))
    if share > contract.reject_threshold:
        return Verdict(False, frame.iloc[0:0], failures, fail_rows, share)
    good = frame[~frame[ROW_ID_COLUMN].isin(fail_rows)].copy()
    warn = failures[failures["severity"] == "warn"]
    flags = warn.groupby("source_row")["rule"].agg(lambda s: ",".join(sorted(set(s))))
    good["_flags"] = good[ROW_ID_COLUMN].map(flags)
    return Verdict(True, good, failures, fail_rows, share)


def _count(rec: DropRecord, contract: Contract, frame: gpd.GeoDataFrame, v: Verdict) -> None:
    rec.rows_read = len(frame)
    rec.rows_quarantined = len(v.fail_rows)
    # rows per rule and severity, so `yitu status` answers "how many failed what" at a glance
    rec.notes["rows_by_rule"] = {
        str(sev): {str(rule): int(n) for rule, n in
                   group.groupby("rule")["source_row"].nunique().items()}
        for sev, group in v.failures.groupby("severity")}
    rec.errors = [r.as_dict() for r in
                  row_reasons(v.failures.head(LEDGER_ERROR_LIMIT), contract)]
    if v.loaded:
        rec.state = "loaded"
        rec.rows_loaded = len(v.good)
        rec.rows_flagged = int(v.good["_flags"].notna().sum())
    else:
        rec.state, rec.rows_loaded, rec.rows_flagged = "rejected", 0, 0
        rec.errors.insert(0, whole_file(
            "too_many_bad_rows", f"不合格记录占 {v.share_failed:.1%}，超过本数据集允许的 "
            f"{contract.reject_threshold:.0%}，整个文件退回"))
    rec.processed_at = datetime.now(UTC)


_CHANGES_LATER = False  # see `changes_recorded_later`


@contextmanager
def changes_recorded_later() -> Iterator[None]:
    """Drops loaded in this block, here or in workers forked in it, leave what they changed
    to `complete_loaded`, which the caller runs when it suits it: `yitu run` on PostGIS
    records it beside its integration (at 1x a county's parcels sent again: 4 s of reading
    the versions back and comparing areas, after the load and before anything could be
    published)."""
    global _CHANGES_LATER
    before, _CHANGES_LATER = _CHANGES_LATER, True
    try:
        yield
    finally:
        _CHANGES_LATER = before


def changes_later() -> bool:
    """Whether loads leave their changes to `complete_loaded` (`changes_recorded_later`)."""
    return _CHANGES_LATER


def load_rows(settings: Settings, wh: Warehouse, rec: DropRecord, contract: Contract,
              frame: gpd.GeoDataFrame, verdict: Verdict, outcome: ValidationOutcome,
              counties: gpd.GeoDataFrame | None = None) -> None:
    """Write the drop's answer: its good rows as the current version (one transaction with
    the ledger outcome and the quarantine, committed once the answer files are written),
    then what it changed."""
    _count(rec, contract, frame, verdict)

    def answer_files() -> None:
        write_rejection_report(settings, rec, verdict.failures, contract, frame, counties)
        keep_validation_result(settings, rec, outcome.result)

    # The answer files are written before the commit: a crash before it leaves the drop
    # pending and the next run writes them again; after it, they are already there. Where
    # the load is one transaction, they are made beside it: it mostly waits on the
    # warehouse (a county's parcels sent again: COPY and closing the versions replaced,
    # 5-8 s at 1x, while its answer workbook takes 2-5 s to make).
    if not wh.loads_at_once:
        answer_files()
        _commit(wh, rec, contract, frame, verdict, outcome, lambda: None)
        return
    with ThreadPoolExecutor(1, thread_name_prefix="yitu-answer") as aside:
        answered = aside.submit(answer_files)
        _commit(wh, rec, contract, frame, verdict, outcome, answered.result)


def _commit(wh: Warehouse, rec: DropRecord, contract: Contract, frame: gpd.GeoDataFrame,
            verdict: Verdict, outcome: ValidationOutcome, answered: Callable[[], None]) -> None:
    """The drop's outcome in one transaction (with its good rows, when loaded), committed
    once `answered` says the answer files are written; then what it changed."""
    good = verdict.good.rename(columns={ROW_ID_COLUMN: "_source_row"})
    good["_drop_id"], good["_source_file"] = rec.drop_id, rec.file

    def finalize(conn: Connection) -> None:
        answered()  # (raises what writing them raised: nothing is committed then)
        # A drop processed again (a retry, or two workers at once) replaces its own dq rows.
        for table in (wh.tables.quarantine, wh.tables.validation_stats):
            conn.execute(delete(table).where(table.c.drop_id == rec.drop_id))
        store_quarantine(conn, wh, rec.drop_id, contract, verdict.failures, frame)
        if outcome.stats:
            conn.execute(insert(wh.tables.validation_stats),
                         [{"drop_id": rec.drop_id, "dataset": rec.dataset, **s}
                          for s in outcome.stats])
        ledger.save_outcome(conn, wh, rec)
        failpoint("load.before_commit")

    if rec.state == "loaded":
        assert rec.processed_at is not None
        _note_rows(rec, contract, good)
        versions = wh.load_core(contract, gpd.GeoDataFrame(good, geometry=good.geometry.name),
                                rec.drop_id, rec.processed_at, finalize)
        log.info("drop %s: %d versions written, %d closed, %d kept as they were",
                 rec.drop_id, versions["written"], versions["closed"], versions["kept"])
        failpoint("load.after_commit")
        # After the load's own transaction: what this drop changed can never undo the load
        # (a run that dies here leaves it to the next: `complete_loaded`).
        if not _CHANGES_LATER:
            record_changes(wh, contract, rec)
    else:
        with wh.engine.begin() as conn:
            finalize(conn)


def _note_rows(rec: DropRecord, contract: Contract, good: pd.DataFrame) -> None:
    """What the drop's rows are, in its notes (saved with its outcome): the rows it loaded
    per county they state (the county assessment's count), and what a snapshot replaces
    (its rows are then found again among the versions it kept: `versions.Scope`)."""
    column = contract.county_column
    if column:
        counties = good[column].astype("string").str[:6].value_counts()
        rec.notes["rows_by_county"] = {str(c): int(n) for c, n in counties.items()}
    scope = scope_of(contract, good)
    if scope is not None:
        rec.notes["scope"] = scope.as_note()


def complete_loaded(wh: Warehouse) -> list[DropRecord]:
    """Loaded drops whose change report a crashed run never wrote: written now."""
    done = [rec for rec in ledger.list_drops(wh, state="loaded") if "changes" not in rec.notes]
    for rec in done:
        record_changes(wh, load_contract(rec.dataset), rec)
    return done


def reject_file(settings: Settings, wh: Warehouse, rec: DropRecord, contract: Contract,
                reason: dict[str, Any]) -> None:
    """The whole file is refused: the ledger says why, and so does the rejection report."""
    rec.state, rec.errors, rec.rows_loaded = "rejected", [reason], 0
    rec.processed_at = datetime.now(UTC)
    with wh.engine.begin() as conn:
        ledger.save_outcome(conn, wh, rec)
    write_rejection_report(settings, rec, pd.DataFrame(), contract)
