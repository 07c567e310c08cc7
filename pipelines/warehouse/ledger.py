"""The drops ledger (audit.drops): one row per file received, keyed by drop id and sha256."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pipelines.warehouse.base import Warehouse

# failed: answering it crashed (not the file's fault); kept, retried by `yitu run --retry`
STATES = ("pending", "loaded", "rejected", "duplicate", "failed")


@dataclass
class DropRecord:
    drop_id: str
    dataset: str
    file: str
    sha256: str
    size_bytes: int
    raw_path: str
    received_at: datetime
    state: str = "pending"
    duplicate_of: str | None = None
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_quarantined: int | None = None
    rows_flagged: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)
    processed_at: datetime | None = None

    def as_status(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("received_at", "processed_at"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def _row_to_record(row: Any) -> DropRecord:
    m = dict(row._mapping)
    m["errors"] = json.loads(m["errors"]) if m["errors"] else []
    m["notes"] = json.loads(m["notes"]) if m["notes"] else {}
    for k in ("received_at", "processed_at"):
        # SQLite hands back naive datetimes; the ledger writes UTC.
        if m[k] is not None and m[k].tzinfo is None:
            m[k] = m[k].replace(tzinfo=UTC)
    return DropRecord(**m)


def _values(rec: DropRecord) -> dict[str, Any]:
    v = asdict(rec)
    v["errors"] = json.dumps(rec.errors, ensure_ascii=False, default=str)
    v["notes"] = json.dumps(rec.notes, ensure_ascii=False, default=str)
    return v


def insert_drop(wh: Warehouse, rec: DropRecord) -> None:
    with wh.engine.begin() as conn:
        conn.execute(insert(wh.tables.drops).values(**_values(rec)))


def save_outcome(conn: Connection, wh: Warehouse, rec: DropRecord) -> None:
    values = _values(rec)
    values.pop("drop_id")
    t = wh.tables.drops
    conn.execute(update(t).where(t.c.drop_id == rec.drop_id).values(**values))


# Notes made when a drop is received, kept whatever answers it later.
RECEIVED_NOTES = ("landed_as",)


def received_notes(rec: DropRecord) -> dict[str, Any]:
    return {k: v for k, v in rec.notes.items() if k in RECEIVED_NOTES}


def reopen(wh: Warehouse, rec: DropRecord) -> None:
    """Make an answered drop pending again, with no outcome, to be answered once more."""
    fresh = DropRecord(drop_id=rec.drop_id, dataset=rec.dataset, file=rec.file,
                       sha256=rec.sha256, size_bytes=rec.size_bytes, raw_path=rec.raw_path,
                       received_at=rec.received_at, notes=received_notes(rec))
    with wh.engine.begin() as conn:
        save_outcome(conn, wh, fresh)


def save_notes(conn: Connection, wh: Warehouse, rec: DropRecord) -> None:
    """Only the notes: what is learnt about a drop after its outcome is saved."""
    t = wh.tables.drops
    conn.execute(update(t).where(t.c.drop_id == rec.drop_id)
                 .values(notes=_values(rec)["notes"]))


def first_with_sha(wh: Warehouse, sha256: str, dataset: str) -> DropRecord | None:
    """The earlier drop of these bytes into this dataset that loaded or still waits. The same
    bytes dropped as another dataset (a file sent to the wrong folder first, or any two empty
    files) are not a resend; nor is a file sent again after it was refused or failed: it is
    answered again, so a fixed reader or contract can load it."""
    t = wh.tables.drops
    q = (select(t).where(t.c.sha256 == sha256, t.c.dataset == dataset,
                         t.c.state.in_(("pending", "loaded")))
         .order_by(t.c.received_at).limit(1))
    with wh.engine.connect() as conn:
        row = conn.execute(q).first()
    return _row_to_record(row) if row else None


def get_drop(wh: Warehouse, drop_id: str) -> DropRecord:
    t = wh.tables.drops
    with wh.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.drop_id == drop_id)).first()
    if row is None:
        raise KeyError(f"no drop {drop_id!r} in the ledger")
    return _row_to_record(row)


def list_drops(wh: Warehouse, *, state: str | None = None,
               dataset: str | None = None) -> list[DropRecord]:
    t = wh.tables.drops
    q = select(t).order_by(t.c.received_at, t.c.drop_id)
    if state:
        q = q.where(t.c.state == state)
    if dataset:
        q = q.where(t.c.dataset == dataset)
    with wh.engine.connect() as conn:
        return [_row_to_record(r) for r in conn.execute(q)]


def dataset_drops(wh: Warehouse) -> dict[str, list[str]]:
    """Per dataset, its loaded drops (sorted): loaded drops change core and nothing else
    does, so a dataset whose loaded drops are the same holds the same current rows, and
    what changed since is what the others added and closed (`_drop_id`, `_closed_by`)."""
    t = wh.tables.drops
    found: dict[str, list[str]] = {}
    with wh.engine.connect() as conn:  # (two columns: not every drop's notes and errors)
        for dataset, drop_id in conn.execute(select(t.c.dataset, t.c.drop_id).where(
                t.c.state == "loaded")):
            found.setdefault(dataset, []).append(drop_id)
    return {dataset: sorted(ids) for dataset, ids in found.items()}


def versions_of(drops: dict[str, list[str]]) -> dict[str, str]:
    """Per dataset, a digest of its loaded drops (`dataset_drops`)."""
    return {dataset: hashlib.blake2b("\x1f".join(sorted(ids)).encode(),
                                     digest_size=16).hexdigest()
            for dataset, ids in drops.items()}


def dataset_versions(wh: Warehouse) -> dict[str, str]:
    """Per dataset, a digest of its loaded drops: the same digest, the same current rows."""
    return versions_of(dataset_drops(wh))
