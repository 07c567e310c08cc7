"""The department side of the quarterly assessment: per department and quarter, the
deliveries its contracts' cadences expected, how many came on time, late or not at all, the
rows it sent and the rows refused, and one score (the report's scorecard, per quarter).

Read from the drops ledger and dq.validation_stats; judged by the report's own timeliness rule
(`pipelines.report.timeliness.judge`), so the report and the assessment never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pandas as pd

from pipelines.contracts import CADENCE_DAYS, Contract, all_contracts
from pipelines.integrate.assessment import local, quarter_of
from pipelines.report.facts import quality_by_drop
from pipelines.report.scorecard import Score
from pipelines.report.timeliness import DELIVERY_STATES, judge
from pipelines.warehouse import Warehouse, ledger

COLUMNS = ["department", "quarter", "datasets", "deliveries_expected", "deliveries_on_time",
           "deliveries_late", "deliveries_missing", "rows_received", "rows_rejected",
           "completeness", "validity", "timeliness", "score"]


@dataclass
class _Tally:
    datasets: set[str] = field(default_factory=set)
    expected: int = 0
    on_time: int = 0
    late: int = 0
    missing: int = 0
    received: int = 0
    rejected: int = 0
    required_checked: int = 0
    required_failed: int = 0


def _quarter(moment: datetime) -> str:
    return str(quarter_of(local(pd.Series([moment]))).iloc[0])


def expected_dates(cadence: str, first: datetime | None, now: datetime) -> list[datetime]:
    """When deliveries were due up to `now`: the first, then one per cadence period after it
    (a dataset never delivered is expected now)."""
    if first is None:
        return [now]
    step = timedelta(days=CADENCE_DAYS[cadence])
    count = int((now - first) / step) + 1 if now >= first else 1
    return [first + k * step for k in range(count)]


def _tally_dataset(contract: Contract, drops: list[ledger.DropRecord], required: pd.DataFrame,
                   now: datetime, tallies: dict[tuple[str, str], _Tally]) -> None:
    def tally(moment: datetime) -> _Tally:
        t = tallies.setdefault((contract.department, _quarter(moment)), _Tally())
        t.datasets.add(contract.dataset)
        return t

    first = drops[0].received_at if drops else None
    for due in expected_dates(contract.cadence, first, now):
        tally(due).expected += 1
    for i, drop in enumerate(drops):
        t = tally(drop.received_at)
        before = [d.received_at for d in drops[:i]]
        in_time = not before or judge(contract.cadence, before, drop.received_at).status != "late"
        t.on_time += in_time
        t.late += not in_time
        t.received += drop.rows_read or 0
        # a file refused whole refuses every row it had
        t.rejected += (drop.rows_read or 0) if drop.state == "rejected" else (
            drop.rows_quarantined or 0)
        rules = required[required["drop_id"] == drop.drop_id]
        t.required_checked += int(rules["checked"].sum())
        t.required_failed += int(rules["failed"].sum())


def department_quarters(wh: Warehouse, now: datetime | None = None) -> pd.DataFrame:
    """One row per department and quarter in which it delivered or was expected to."""
    now = now or datetime.now(UTC)
    stats = quality_by_drop(wh)
    required = stats[stats["rule"] == "required"]
    answered = [d for d in ledger.list_drops(wh) if d.state in DELIVERY_STATES]
    tallies: dict[tuple[str, str], _Tally] = {}
    for contract in all_contracts():
        mine = [d for d in answered if d.dataset == contract.dataset]
        _tally_dataset(contract, mine, required, now, tallies)
    rows = []
    for (department, quarter), t in sorted(tallies.items()):
        delivered = t.on_time + t.late
        t.missing = max(0, t.expected - delivered)
        score = Score(department, len(t.datasets),
                      completeness=_share(t.required_checked - t.required_failed,
                                          t.required_checked),
                      validity=_share(t.received - t.rejected, t.received),
                      timeliness=t.on_time / max(t.expected, delivered))
        rows.append({"department": department, "quarter": quarter,
                     "datasets": len(t.datasets), "deliveries_expected": t.expected,
                     "deliveries_on_time": t.on_time, "deliveries_late": t.late,
                     "deliveries_missing": t.missing, "rows_received": t.received,
                     "rows_rejected": t.rejected, "completeness": score.completeness,
                     "validity": score.validity, "timeliness": score.timeliness,
                     "score": round(100 * score.overall, 2)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _share(good: int, total: int) -> float | None:
    return round(good / total, 4) if total else None
