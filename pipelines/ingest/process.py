"""One drop end to end up to the core table: read, validate, quarantine, load."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from sqlalchemy import Connection, delete, insert

from pipelines import ledger, pii
from pipelines.changes import record_changes
from pipelines.config import Settings
from pipelines.contracts import Contract, load_contract, load_region
from pipelines.ingest.conform import conform
from pipelines.ingest.errors import FileRejected
from pipelines.ingest.formats import open_delivery
from pipelines.ledger import DropRecord
from pipelines.validation.run import validate_frame
from pipelines.validation.suite import ROW_ID_COLUMN
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)
LEDGER_ERROR_LIMIT = 1000  # the full list is in dq.quarantine and the rejection report
# the rejection report's header, written even when there is nothing to report
REPORT_COLUMNS = ["文件 file", "行 row", "字段 field", "规则 rule", "级别 severity", "原因 reason",
                  "值 value"]


def pii_key(settings: Settings) -> bytes:
    # On the embedded default a key may be generated; a PostGIS warehouse needs a configured one.
    return pii.load_key(settings.home, settings.pii_key, allow_generate=settings.embedded)


def process_pending(settings: Settings, wh: Warehouse,
                    dataset: str | None = None) -> list[DropRecord]:
    # admin_divisions first: every other dataset is placed on it.
    pending = ledger.list_drops(wh, state="pending", dataset=dataset)
    pending.sort(key=lambda r: (r.dataset != "admin_divisions", r.received_at))
    return [process_drop(settings, wh, r.drop_id) for r in pending]


def process_drop(settings: Settings, wh: Warehouse, drop_id: str) -> DropRecord:
    rec = ledger.get_drop(wh, drop_id)
    if rec.state != "pending":
        return rec  # already answered: a rerun changes nothing
    contract = load_contract(rec.dataset)
    workdir = settings.home / "work" / drop_id
    try:
        raw = open_delivery(Path(rec.raw_path), contract, workdir)
        counties = _counties(wh) if _needs_counties(contract) else None
        conformed = conform(raw, contract, load_region(), pii_key(settings),
                            counties=counties if contract.geometry_from_columns else None)
        rec.notes = conformed.notes
        outcome = validate_frame(contract, conformed.frame, clear_ids=conformed.clear_ids,
                                 counties=counties)
        conformed.clear_ids.clear()  # the clear ID numbers are not needed past validation
        if outcome.skipped:
            rec.notes["skipped_checks"] = [{k: s[k] for k in ("rule", "field", "reason")}
                                           for s in outcome.skipped]
    except FileRejected as exc:
        rec.state, rec.errors = "rejected", [exc.as_error()]
        rec.rows_loaded = 0
        rec.processed_at = datetime.now(UTC)
        with wh.engine.begin() as conn:
            ledger.save_outcome(conn, wh, rec)
        _write_rejection_report(settings, rec, pd.DataFrame(), contract)
        log.info("drop %s (%s): rejected: %s", drop_id, rec.file, exc)
        return rec
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    frame = conformed.frame
    failures = pd.concat([conformed.failures, _not_already_failed(outcome.failures,
                                                                  conformed.failures)],
                         ignore_index=True)
    fail_rows = set(failures.loc[failures["severity"] == "fail", "source_row"].astype(int))
    warn = failures[failures["severity"] == "warn"]
    rec.rows_read = len(frame)
    rec.rows_quarantined = len(fail_rows)
    # rows per rule and severity, so `yitu status` answers "how many failed what" at a glance
    rec.notes["rows_by_rule"] = {
        str(sev): {str(rule): int(n) for rule, n in
                   group.groupby("rule")["source_row"].nunique().items()}
        for sev, group in failures.groupby("severity")}
    rec.errors = [_error(r) for r in failures.head(LEDGER_ERROR_LIMIT).itertuples()]
    share = len(fail_rows) / max(1, len(frame))
    if share > contract.reject_threshold:
        rec.state, rec.rows_loaded, rec.rows_flagged = "rejected", 0, 0
        rec.errors.insert(0, {"rule": "too_many_bad_rows", "message":
                              f"[too_many_bad_rows] 不合格记录占 {share:.1%}，超过本数据集允许的 "
                              f"{contract.reject_threshold:.0%}，整个文件退回"})
        good = frame.iloc[0:0]
    else:
        rec.state = "loaded"
        good = frame[~frame[ROW_ID_COLUMN].isin(fail_rows)].copy()
        flags = warn.groupby("source_row")["rule"].agg(lambda s: ",".join(sorted(set(s))))
        good["_flags"] = good[ROW_ID_COLUMN].map(flags)
        rec.rows_loaded = len(good)
        rec.rows_flagged = int(good["_flags"].notna().sum())
    rec.processed_at = datetime.now(UTC)
    good = good.rename(columns={ROW_ID_COLUMN: "_source_row"})
    good["_drop_id"], good["_source_file"] = drop_id, rec.file
    records = _records_by_row(frame, failures)

    def finalize(conn: Connection) -> None:
        # A drop processed again (a retry, or two workers at once) replaces its own dq rows.
        for table in (wh.tables.quarantine, wh.tables.validation_stats):
            conn.execute(delete(table).where(table.c.drop_id == drop_id))
        _store_quarantine(conn, wh, rec, contract, failures, records)
        if outcome.stats:
            conn.execute(insert(wh.tables.validation_stats),
                         [{"drop_id": drop_id, "dataset": rec.dataset, **s} for s in outcome.stats])
        ledger.save_outcome(conn, wh, rec)

    if rec.state == "loaded":
        wh.load_core(contract, gpd.GeoDataFrame(good, geometry=good.geometry.name),
                     drop_id, rec.processed_at, finalize)
        # After the load's own transaction: what this drop changed can never undo the load.
        record_changes(wh, contract, rec)
    else:
        with wh.engine.begin() as conn:
            finalize(conn)
    _write_rejection_report(settings, rec, failures, contract)
    _write_validation_result(settings, rec, outcome.result)
    log.info("drop %s (%s): %s, %s read, %s loaded, %s quarantined, %s flagged", drop_id,
             rec.file, rec.state, rec.rows_read, rec.rows_loaded, rec.rows_quarantined,
             rec.rows_flagged)
    return rec


def _needs_counties(contract: Contract) -> bool:
    """Points placed from coordinates, or a county code checked against the location."""
    return contract.geometry_from_columns or any(
        f.domain_ref == "county_codes" for f in contract.fields)


def _counties(wh: Warehouse) -> gpd.GeoDataFrame | None:
    """County polygons already loaded: the evidence for telling GCJ-02 points from CGCS2000."""
    admin = wh.read_current(load_contract("admin_divisions"))
    counties = admin[admin["xzqdm"].str.len() == 6]
    if counties.empty:
        return None
    return gpd.GeoDataFrame({"county_code": counties["xzqdm"].values},
                            geometry=counties.geometry.values, crs=4490).rename_geometry("geom")


def _error(r: Any) -> dict[str, Any]:
    err = {"rule": r.rule, "message": r.message, "row": int(r.source_row), "field": r.field,
           "severity": r.severity}
    if r.value is not None and not pd.isna(r.value):
        err["value"] = r.value
    return err


def _records_by_row(frame: gpd.GeoDataFrame, failures: pd.DataFrame) -> dict[int, str]:
    """The failing rows as JSON (personal data is already tokenised), for the quarantine."""
    rows = frame[frame[ROW_ID_COLUMN].isin(set(failures["source_row"].astype(int)))]
    out: dict[int, str] = {}
    geom = rows.geometry.name
    for rec in rows.to_dict(orient="records"):
        g = rec.pop(geom)
        rec["geometry_wkt"] = None if g is None else g.wkt[:2000]
        out[int(rec[ROW_ID_COLUMN])] = json.dumps(rec, ensure_ascii=False, default=str)
    return out


def _store_quarantine(conn: Connection, wh: Warehouse, rec: DropRecord, contract: Contract,
                      failures: pd.DataFrame, records: dict[int, str]) -> None:
    if failures.empty:
        return
    rows = [{"drop_id": rec.drop_id, "dataset": contract.dataset,
             "source_row": int(f.source_row), "field": f.field, "rule": f.rule,
             "severity": f.severity, "message": f.message,
             "value": None if f.value is None or pd.isna(f.value) else str(f.value),
             "record": records.get(int(f.source_row))}
            for f in failures.itertuples()]
    conn.execute(insert(wh.tables.quarantine), rows)


def _not_already_failed(found: pd.DataFrame, at_read: pd.DataFrame) -> pd.DataFrame:
    """Validation's failures minus those on a cell reading already refused: a USCC Excel
    turned into 9.1E+17 is one mistake for the clerk to fix (damaged_code), not three
    (damaged_code, pattern, uscc_check)."""
    if found.empty or at_read.empty:
        return found
    refused = pd.MultiIndex.from_frame(at_read[["source_row", "field"]].astype({"source_row": int}))
    cells = pd.MultiIndex.from_frame(found[["source_row", "field"]].astype({"source_row": int}))
    return found[~cells.isin(refused)]


def _write_rejection_report(settings: Settings, rec: DropRecord, failures: pd.DataFrame,
                            contract: Contract) -> None:
    """What the department gets back: CSV for Excel (UTF-8 with BOM) and JSON."""
    folder = settings.quarantine / rec.dataset / rec.drop_id
    folder.mkdir(parents=True, exist_ok=True)
    # Whole-file reasons (too many bad rows, unreadable) first, then every row's reasons.
    # (a row's reason always carries its severity; a whole-file one may name a row too: the
    # line an undecodable byte is on)
    errors = [e for e in rec.errors if "severity" not in e]
    errors += [_error(r) for r in failures.itertuples()]
    table = pd.DataFrame([{"文件 file": rec.file, "行 row": e.get("row"),
                           "字段 field": e.get("field"), "规则 rule": e["rule"],
                           "级别 severity": e.get("severity", "fail"),
                           "原因 reason": e["message"], "值 value": e.get("value")}
                          for e in errors], columns=REPORT_COLUMNS)
    table["行 row"] = table["行 row"].astype("Int64")  # 12, not 12.0, beside whole-file lines
    table.to_csv(folder / "rejections.csv", index=False, encoding="utf-8-sig")
    summary = {k: v for k, v in rec.as_status().items() if k != "errors"}
    summary["dataset_title"] = contract.title
    summary["errors"] = errors
    (folder / "rejections.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def _write_validation_result(settings: Settings, rec: DropRecord, result: dict[str, Any]) -> None:
    folder = settings.reports / "validations" / rec.dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{rec.drop_id}.json").write_text(
        json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
