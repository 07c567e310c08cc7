"""A profile per dataset and delivery: per column the empty values, distinct values, most
frequent values and range of the rows the delivery loaded, and how each moved against the
delivery before. A delivery's rows never change once loaded, so its profile is computed once
and kept beside the report (`profiles/<dataset>/<drop>.json`): a report after every run reads
only the deliveries it has not profiled yet."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from pipelines.contracts import Contract
from pipelines.warehouse import Warehouse
from pipelines.warehouse.columns import attribute_columns
from pipelines.warehouse.ledger import DropRecord
from pipelines.warehouse.versions import Scope

VERSION = 3  # bump when what a profile holds changes: older files are computed again
TOP_VALUES = 3
# Top values say something of a column whose values repeat (a type, a county, a status); of
# names, codes and addresses, mostly unique, they only repeat a few rows' content.
TOP_MAX_DISTINCT_SHARE = 0.5
# What counts as a sudden change between two deliveries (flagged for the monitor).
NULL_RATE_JUMP = 0.10  # the share of empty values moves by 10 percentage points or more
DISTINCT_SHARE_JUMP = 0.30  # distinct / filled values moves by 0.3 or more
ROWS_FACTOR = 2.0  # a snapshot half or twice the size of the last one
MIN_ROWS = 20  # below this, shares jump by chance
YES_NO = {"True": "是", "False": "否"}


@dataclass
class ColumnProfile:
    column: str
    label: str
    nulls: int
    distinct: int
    top: list[tuple[str, int]] = field(default_factory=list)  # none for personal data
    minimum: str | None = None
    maximum: str | None = None
    low: float | None = None  # numeric range, for comparing deliveries
    high: float | None = None


@dataclass
class Profile:
    drop_id: str
    rows: int
    columns: list[ColumnProfile]

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.column == name), None)


@dataclass(frozen=True)
class Movement:
    column: str  # "" for the delivery as a whole
    what: str  # Chinese: 空值率 / 不同值占比 / 取值范围 / 记录数
    before: str
    after: str
    flagged: bool


def _profiled_columns(contract: Contract) -> list[tuple[str, str, str, bool]]:
    """(column, label, type, values hidden): tokens are keyed hashes, so of personal data only the
    masked form is profiled, without its values; free text (a caller's words may hold a
    phone number) is profiled without its values too."""
    free = {f.column for f in contract.fields if f.free_text}
    return [(c.name, c.label, c.kind, c.name.endswith("_masked") or c.name in free)
            for c in attribute_columns(contract) if not c.name.endswith("_token")]


def _text(moment: pd.Timestamp) -> str:
    return str(moment.strftime("%Y-%m-%d") if moment == moment.normalize()
               else moment.isoformat(sep=" "))


def profile_frame(contract: Contract, drop_id: str, frame: pd.DataFrame) -> Profile:
    columns = []
    for name, label, kind, hidden in _profiled_columns(contract):
        values = frame[name] if name in frame.columns else pd.Series([None] * len(frame))
        filled = values.dropna()
        col = ColumnProfile(name, label, int(len(values) - len(filled)),
                            int(filled.astype(str).nunique()))
        repeats = col.distinct <= TOP_MAX_DISTINCT_SHARE * len(filled)
        if not hidden and len(filled) and repeats:
            counts = filled.value_counts().head(TOP_VALUES)
            col.top = [(YES_NO.get(str(k), str(k)), int(v)) for k, v in counts.items()]
        if not hidden and len(filled):
            if pd.api.types.is_numeric_dtype(filled) and not pd.api.types.is_bool_dtype(filled):
                col.low, col.high = float(filled.min()), float(filled.max())
                col.minimum, col.maximum = f"{col.low:,.6g}", f"{col.high:,.6g}"
            elif kind in ("date", "datetime"):
                moments = pd.to_datetime(filled, errors="coerce").dropna()
                if len(moments):
                    col.minimum, col.maximum = _text(moments.min()), _text(moments.max())
        columns.append(col)
    return Profile(drop_id, len(frame), columns)


def answered_stamp(drop: DropRecord) -> str:
    """When the drop was answered: a retried drop is loaded again and profiled again."""
    return drop.processed_at.isoformat() if drop.processed_at else ""


def _cached(path: Path, drop: DropRecord) -> Profile | None:
    try:
        raw = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if raw.get("version") != VERSION or raw.get("answered") != answered_stamp(drop):
        return None
    cols = [ColumnProfile(**{**c, "top": [tuple(t) for t in c["top"]]}) for c in raw["columns"]]
    return Profile(raw["drop_id"], raw["rows"], cols)


def delivery_profile(wh: Warehouse, contract: Contract, drop: DropRecord, folder: Path
                     ) -> Profile | None:
    """The profile of the rows a delivery loaded; None when it loaded none (rejected)."""
    if drop.state != "loaded" or not drop.rows_loaded:
        return None
    path = folder / contract.dataset / f"{drop.drop_id}.json"
    found = _cached(path, drop)
    if found is not None:
        return found
    wanted = [name for name, *_ in _profiled_columns(contract)]
    _, stated = wh.read_drop_rows(contract, drop.drop_id, wanted,
                                  Scope.from_note(drop.notes.get("scope")), drop.processed_at)
    rows = pd.DataFrame(stated.drop(columns="geom"))
    made = profile_frame(contract, drop.drop_id, rows)
    keep_json(path, {"version": VERSION, "answered": answered_stamp(drop), **asdict(made)})
    return made


def keep_json(path: Path, data: object) -> None:
    """`data` as JSON at `path`, written whole through a rename: no reader sees half (a
    delivery's profile or failing rows, kept for the next report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}")
    part.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(part, path)


def profiles_dir(reports_dir: Path) -> Path:
    """Where the report keeps each delivery's profile (`delivery_profile`)."""
    return reports_dir / "profiles"


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def movements(before: Profile, after: Profile, snapshot: bool) -> list[Movement]:
    """What moved between two deliveries of a dataset; sudden changes flagged."""
    out = [Movement("", "记录数", f"{before.rows:,}", f"{after.rows:,}", snapshot and min(
        before.rows, after.rows) * ROWS_FACTOR <= max(before.rows, after.rows))]
    enough = min(before.rows, after.rows) >= MIN_ROWS
    for a in after.columns:
        b = before.column(a.column)
        if b is None:
            continue
        nb, na = _share(b.nulls, before.rows), _share(a.nulls, after.rows)
        if abs(na - nb) >= 0.005:
            out.append(Movement(a.column, "空值率", f"{nb:.1%}", f"{na:.1%}",
                                enough and abs(na - nb) >= NULL_RATE_JUMP))
        db = _share(b.distinct, before.rows - b.nulls)
        da = _share(a.distinct, after.rows - a.nulls)
        if abs(da - db) >= 0.05:
            out.append(Movement(a.column, "不同值占比", f"{db:.2f}", f"{da:.2f}",
                                enough and abs(da - db) >= DISTINCT_SHARE_JUMP))
        if None not in (a.low, a.high, b.low, b.high) and (a.low, a.high) != (b.low, b.high):
            assert a.low is not None and a.high is not None  # for mypy: checked just above
            assert b.low is not None and b.high is not None
            span = max(b.high - b.low, abs(b.high), 1e-9)
            out.append(Movement(a.column, "取值范围", f"{b.minimum} – {b.maximum}",
                                f"{a.minimum} – {a.maximum}",
                                a.high > b.high + span or a.low < b.low - span))
    return out
