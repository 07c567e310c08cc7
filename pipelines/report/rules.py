"""Validation rules as a monitor reads them: the Chinese name, what the contract requires of
the field and how a department fixes it (the same words the answer workbook uses), and a few
failing rows from the quarantine, personal values only ever as stored (masked)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from pathlib import Path

from sqlalchemy import func, select

from pipelines.contracts import Contract, FieldSpec, Region
from pipelines.landing.field_rules import (
    SEVERITY_ZH,
    allowed_text,
    describe_pattern,
    field_label,
    identifying_field,
    range_text,
    rule_name,
)
from pipelines.load.workbook_hints import GENERIC_HINT
from pipelines.report.profile import answered_stamp, keep_json
from pipelines.validate.suite import RULE_MESSAGE_ZH
from pipelines.warehouse import Warehouse
from pipelines.warehouse.ledger import DropRecord

SAMPLES_PER_RULE = 3
ALLOWED_SHOWN = 12  # a county list is long: the first values say what kind of code is meant


@dataclass(frozen=True)
class RuleText:
    name: str  # 不在代码表中
    description: str  # 字段 XZQDM（行政区划代码）的值不在代码表中；允许的值：…
    hint: str  # how the department fixes it
    severity: str  # 隔离 / 标记


@dataclass(frozen=True)
class FailingRow:
    source_row: int
    message: str
    value: str | None  # masked where personal (as stored in dq.quarantine)
    identifier: str | None  # the row's identifying field, e.g. 证照编号, never a personal one


SampleKey = tuple[str, str, str]  # drop id, rule, field ("" when the rule has none)
ANY_FIELD = "*"


def _spec(contract: Contract, code: str | None) -> FieldSpec | None:
    return next((f for f in contract.fields if f.code == code), None)


def _requirement(rule: str, spec: FieldSpec, region: Region) -> str | None:
    """What the contract asks of the field, for the rules that have a stated requirement."""
    if rule == "domain":
        text = allowed_text(spec, region) or ""
        values = text.split("、")
        more = f" 等 {len(values)} 个" if len(values) > ALLOWED_SHOWN else ""
        return f"允许的值：{'、'.join(values[:ALLOWED_SHOWN])}{more}"
    if rule == "pattern" and spec.pattern:
        return f"应为：{describe_pattern(spec.pattern)}"
    if rule == "range":
        bounds = range_text(spec)
        return f"应{bounds}" if bounds else None
    return None


def rule_text(rule: str, field: str | None, severity: str, contract: Contract,
              region: Region) -> RuleText:
    spec = _spec(contract, field)
    label = field_label(spec) if spec else (field or "")
    template = RULE_MESSAGE_ZH.get(rule)
    description = template.format(field=label) if template else rule_name(rule)
    requirement = _requirement(rule, spec, region) if spec else None
    if requirement:
        description += f"；{requirement}"
    return RuleText(rule_name(rule), description, GENERIC_HINT.get(rule, "请按原因修改"),
                    SEVERITY_ZH.get(severity, severity))


def _identifier(record: str | None, spec: FieldSpec | None) -> str | None:
    if not record or spec is None or spec.pii:
        return None
    value = json.loads(record).get(spec.column)
    return None if value is None else str(value)


def failing_samples(wh: Warehouse, contracts: Sequence[Contract], drop_ids: Sequence[str]
                    ) -> dict[SampleKey, list[FailingRow]]:
    """The first SAMPLES_PER_RULE quarantined rows per drop, rule and field, in one query
    (a window function: a rejected file's hundred thousand failures are not read). Rows are
    ranked on their keys alone, read from the index `quarantine_samples`, and only the
    chosen ones read whole: ranked with their records, every failure's JSON record was
    sorted (0.9 s of every report at 1x, against 0.2 s)."""
    if not drop_ids:
        return {}
    t = wh.tables.quarantine
    n = func.row_number().over(partition_by=(t.c.drop_id, t.c.rule, t.c.field),
                               order_by=(t.c.source_row, t.c.id)).label("n")
    ranked = select(t.c.id, n).where(t.c.drop_id.in_(list(drop_ids))).subquery()
    query = select(t.c.drop_id, t.c.dataset, t.c.rule, t.c.field, t.c.source_row, t.c.message,
                   t.c.value, t.c.record).join(ranked, ranked.c.id == t.c.id).where(
        ranked.c.n <= SAMPLES_PER_RULE).order_by(t.c.drop_id, t.c.rule, t.c.field, ranked.c.n)
    ids = {c.dataset: identifying_field(c) for c in contracts}
    out: dict[SampleKey, list[FailingRow]] = {}
    with wh.engine.connect() as conn:
        for r in conn.execute(query):
            row = FailingRow(int(r.source_row), str(r.message), r.value,
                             _identifier(r.record, ids.get(str(r.dataset))))
            out.setdefault((str(r.drop_id), str(r.rule), r.field or ""), []).append(row)
            # A rule over several fields is counted under all of them (PDSJ≤…≤BJSJ) but its
            # rows name the pair that failed: any_field finds them for the whole rule.
            anywhere = out.setdefault((str(r.drop_id), str(r.rule), ANY_FIELD), [])
            if len(anywhere) < SAMPLES_PER_RULE:
                anywhere.append(row)
    return out


SAMPLES_VERSION = 1  # of the files `kept_samples` keeps; another is read again
ANSWERED = ("loaded", "rejected")  # states whose quarantined rows stay as they are
_SAFE_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")


def kept_samples(wh: Warehouse, contracts: Sequence[Contract], drops: Sequence[DropRecord],
                 folder: Path) -> dict[SampleKey, list[FailingRow]]:
    """`failing_samples` of `drops`, each answered drop's kept in `folder` (one JSON file a
    drop, stamped with when it was answered): its quarantined rows do not change until it
    is answered again, so a report asks the warehouse for the drops answered since only.
    Asked for every recent drop of every dataset, ranking a province's 200 thousand
    quarantined rows took 1.4 s of the server's on every run."""
    out: dict[SampleKey, list[FailingRow]] = {}
    asked: list[DropRecord] = []
    for drop in drops:
        found = _kept(folder, drop)
        if found is None:
            asked.append(drop)
        else:
            out.update(found)
    fresh = failing_samples(wh, contracts, [d.drop_id for d in asked])
    out.update(fresh)
    for drop in asked:
        if _keepable(drop):
            mine = [[*key[1:], [list(astuple(r)) for r in rows]]
                    for key, rows in fresh.items() if key[0] == drop.drop_id]
            keep_json(folder / f"{drop.drop_id}.json", {
                "version": SAMPLES_VERSION, "answered": answered_stamp(drop), "samples": mine})
    return out


def _keepable(drop: DropRecord) -> bool:
    """An answered drop, named as yitu names drops (its id becomes a file name)."""
    return drop.state in ANSWERED and bool(answered_stamp(drop)) and bool(
        _SAFE_ID.fullmatch(drop.drop_id))


def _kept(folder: Path, drop: DropRecord) -> dict[SampleKey, list[FailingRow]] | None:
    if not _keepable(drop):
        return None
    try:
        raw = json.loads((folder / f"{drop.drop_id}.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if raw.get("version") != SAMPLES_VERSION or raw.get("answered") != answered_stamp(drop):
        return None
    return {(drop.drop_id, str(rule), str(field)): [FailingRow(*row) for row in rows]
            for rule, field, rows in raw["samples"]}
