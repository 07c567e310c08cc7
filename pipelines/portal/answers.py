"""What a page shows about datasets and drops, read through the department's permission.

Every lookup here takes the account: an unknown id and another department's id are the same
`NotFound`, so a clerk cannot tell that another department's drop exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select
from starlette.exceptions import HTTPException

from pipelines.accounts import Account
from pipelines.config import Settings
from pipelines.contracts import DATASETS, Contract, load_contract
from pipelines.landing.field_rules import SEVERITY_ZH, rule_name
from pipelines.load.answer import REPORT_FILES, answer_folder
from pipelines.orchestration.deliveries import timeliness
from pipelines.portal.sniff import FORMATS, TABULAR
from pipelines.reasons import Reason
from pipelines.report.timeliness import CADENCE_LABELS
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.ledger import DropRecord

STATE_ZH = {"received": "已收到", "processing": "处理中", "pending": "处理中",
            "loaded": "已入库", "rejected": "已退回", "duplicate": "重复报送（未重复入库）",
            "failed": "处理失败（系统原因，工程师修复后会重新处理，无需重新报送）"}
SHOWN_ROW_REASONS = 20  # the workbook has them all


class NotFound(HTTPException):
    """404: unknown, or another department's (the same answer, so neither is revealed)."""

    def __init__(self, what: str) -> None:
        super().__init__(404, f"not found: {what}")


def visible_datasets(account: Account) -> list[Contract]:
    return [c for ds in DATASETS if account.reads((c := load_contract(ds)).department)]


def visible_contract(account: Account, dataset: str) -> Contract:
    if dataset not in DATASETS or not account.reads((c := load_contract(dataset)).department):
        raise NotFound(dataset)
    return c


def visible_drop(wh: Warehouse, account: Account, drop_id: str) -> DropRecord:
    try:
        rec = ledger.get_drop(wh, drop_id)
    except KeyError:
        raise NotFound(drop_id) from None
    visible_contract(account, rec.dataset)
    return rec


def accepted_formats(contract: Contract) -> list[str]:
    """Tabular files carry a location only as coordinate columns: for point datasets."""
    return [label for ext, label in FORMATS.items()
            if ext not in TABULAR or contract.coordinates is not None]


@dataclass(frozen=True)
class DatasetRow:
    contract: Contract
    cadence: str
    last_delivery: datetime | None
    next_due: datetime | None
    status: str
    formats: list[str]


def dataset_row(wh: Warehouse, contract: Contract) -> DatasetRow:
    t = timeliness(wh, contract.dataset)
    return DatasetRow(contract, CADENCE_LABELS.get(t.cadence, t.cadence), t.last_delivery,
                      t.expected_next, t.label, accepted_formats(contract))


def history(wh: Warehouse, contracts: list[Contract]) -> list[DropRecord]:
    """Every drop of these datasets, newest first (by the portal or the landing folder)."""
    drops = [d for c in contracts for d in ledger.list_drops(wh, dataset=c.dataset)]
    return sorted(drops, key=lambda d: d.received_at, reverse=True)


@dataclass
class DropAnswer:
    rec: DropRecord
    state: str
    file_reasons: list[str] = field(default_factory=list)
    by_rule: list[tuple[str, str, int]] = field(default_factory=list)  # rule, severity, rows
    row_reasons: list[Reason] = field(default_factory=list)
    changes: str | None = None
    files: list[str] = field(default_factory=list)


def _changes(notes: dict[str, Any]) -> str | None:
    c = notes.get("changes")
    if not c:
        return None
    if "error" in c:
        return "未能与上次报送比较（已记录，工程师会处理）"
    text = f"与上次报送相比：新增 {c['added']} 条，删除 {c['removed']} 条，变更 {c['changed']} 条"
    for s in c.get("pbf_shrunk", []):
        text += (f"；{s.get('county_name') or s['county_code']} 永久基本农田减少 "
                 f"{s['area_lost_mu']:.2f} 亩（移除图斑 {s['parcels_removed']} 个）")
    return text


def drop_answer(settings: Settings, rec: DropRecord) -> DropAnswer:
    reasons = [Reason.from_dict(e) for e in rec.errors]
    by_rule = [(rule_name(rule), SEVERITY_ZH.get(sev, sev), int(n))
               for sev in ("fail", "warn")
               for rule, n in sorted((rec.notes.get("rows_by_rule") or {}).get(sev, {}).items())]
    folder = answer_folder(settings.quarantine, rec.dataset, rec.drop_id)
    return DropAnswer(
        rec, STATE_ZH.get(rec.state, rec.state),
        file_reasons=[r.message for r in reasons if r.whole_file],
        by_rule=by_rule,
        row_reasons=[r for r in reasons if not r.whole_file][:SHOWN_ROW_REASONS],
        changes=_changes(rec.notes) if rec.state == "loaded" else None,
        files=[name for name in REPORT_FILES if (folder / name).is_file()])


def answer_file(settings: Settings, rec: DropRecord, name: str) -> Path:
    """One of the drop's answer files, by its exact name: nothing else under quarantine/."""
    if name not in REPORT_FILES:
        raise NotFound(name)
    path = answer_folder(settings.quarantine, rec.dataset, rec.drop_id) / name
    if not path.is_file():
        raise NotFound(name)
    return path


# -- uploads: which upload became which drop ---------------------------------------------------
@dataclass(frozen=True)
class Upload:
    upload_id: str
    login: str
    dataset: str
    file: str
    landed_as: str
    received_at: datetime


def record_upload(wh: Warehouse, upload: Upload, sha256: str, size: int) -> None:
    with wh.engine.begin() as conn:
        conn.execute(insert(wh.tables.portal_uploads).values(
            upload_id=upload.upload_id, login=upload.login, dataset=upload.dataset,
            file=upload.file, landed_as=upload.landed_as, sha256=sha256, size_bytes=size,
            received_at=upload.received_at))


def visible_upload(wh: Warehouse, account: Account, upload_id: str) -> Upload:
    t = wh.tables.portal_uploads
    with wh.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.upload_id == upload_id)).first()
    if row is None:
        raise NotFound(upload_id)
    visible_contract(account, row.dataset)
    return Upload(row.upload_id, row.login, row.dataset, row.file, row.landed_as,
                  row.received_at)


def upload_drop(wh: Warehouse, upload: Upload) -> DropRecord | None:
    """The ledger's drop made of this upload, once detection has archived it."""
    for d in ledger.list_drops(wh, dataset=upload.dataset):
        if d.notes.get("landed_as") == upload.landed_as:
            return d
    return None
