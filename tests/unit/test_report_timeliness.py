"""Timeliness from each contract's cadence, and the department scorecard built on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipelines.contracts import load_contract
from pipelines.report.facts import dataset_facts
from pipelines.report.scorecard import department_scores
from pipelines.report.timeliness import judge
from pipelines.warehouse.ledger import DropRecord

NOW = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


def test_never_delivered_is_missing() -> None:
    t = judge("daily", [], NOW)
    assert (t.status, t.last_delivery, t.expected_next, t.label) == ("missing", None, None,
                                                                     "未报送")


def test_delivery_within_cadence_is_on_time() -> None:
    t = judge("weekly", [NOW - timedelta(days=3), NOW - timedelta(days=20)], NOW)
    assert t.status == "on time" and t.label == "按时"
    assert t.last_delivery == NOW - timedelta(days=3)
    assert t.expected_next == NOW + timedelta(days=4)


def test_due_today_is_still_on_time_until_the_day_ends() -> None:
    assert judge("daily", [NOW - timedelta(days=1, hours=5)], NOW).status == "on time"


def test_overdue_delivery_is_late_by_whole_days() -> None:
    t = judge("daily", [NOW - timedelta(days=4)], NOW)
    assert (t.status, t.days_late) == ("late", 3)
    assert t.label == "逾期 3 天"
    assert judge("quarterly", [NOW - timedelta(days=93)], NOW).status == "late"
    assert judge("quarterly", [NOW - timedelta(days=91)], NOW).status == "on time"


def _drop(dataset: str, days_ago: int, read: int, quarantined: int,
          state: str = "loaded") -> DropRecord:
    return DropRecord(drop_id=f"{dataset}-{days_ago}", dataset=dataset, file="f", sha256="0",
                      size_bytes=1, raw_path="r", received_at=NOW - timedelta(days=days_ago),
                      state=state, rows_read=read, rows_loaded=read - quarantined,
                      rows_quarantined=quarantined, rows_flagged=0)


def test_duplicates_are_not_deliveries_and_the_scorecard_ranks_departments() -> None:
    import pandas as pd

    contracts = [load_contract(d) for d in ("complaints", "licenses", "farmland_hsf")]
    drops = [_drop("complaints", 5, 100, 10),  # daily: late
             _drop("complaints", 0, 100, 0, state="duplicate"),
             _drop("licenses", 2, 50, 0)]  # weekly: on time; farmland_hsf never delivered
    stats = pd.DataFrame([{"drop_id": "licenses-2", "dataset": "licenses", "rule": "required",
                           "field": "ZTMC", "severity": "fail", "checked": 200, "failed": 10}])
    facts = {f.contract.dataset: f for f in dataset_facts(contracts, drops, stats, NOW)}
    assert [facts[d].timeliness.status for d in ("complaints", "licenses", "farmland_hsf")] \
        == ["late", "on time", "missing"]
    assert len(facts["complaints"].deliveries) == 1
    scores = department_scores(list(facts.values()))
    assert [s.department for s in scores] == [
        load_contract(d).department for d in ("licenses", "complaints", "farmland_hsf")]
    best = scores[0]
    assert (best.completeness, best.validity, best.timeliness) == (0.95, 1.0, 1.0)
    assert scores[1].validity == 0.9 and scores[1].completeness is None
    assert scores[-1].overall == 0.0  # nothing delivered: only timeliness counts
