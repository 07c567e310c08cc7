"""What the report says, read from the ledger and dq.validation_stats (no HTML here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from pipelines.contracts import Contract, all_contracts, load_region
from pipelines.report.timeliness import DELIVERY_STATES, Timeliness, judge
from pipelines.warehouse import Warehouse, ledger

DETAIL_LENGTH = 12  # the latest deliveries shown rule by rule and column by column


@dataclass(frozen=True)
class RuleRate:
    rule: str
    field: str  # "" for a rule of the whole row
    severity: str
    checked: int
    failed: int

    @property
    def pass_rate(self) -> float | None:
        return 1 - self.failed / self.checked if self.checked else None


@dataclass
class DatasetFacts:
    contract: Contract
    deliveries: list[ledger.DropRecord]  # oldest first
    rules: dict[str, list[RuleRate]]  # per drop id
    timeliness: Timeliness

    @property
    def latest(self) -> ledger.DropRecord | None:
        return self.deliveries[-1] if self.deliveries else None

    @property
    def recent(self) -> list[ledger.DropRecord]:
        """The deliveries shown in detail, newest first (the charts show every delivery)."""
        return self.deliveries[::-1][:DETAIL_LENGTH]

    def latest_rules(self) -> list[RuleRate]:
        return self.rules.get(self.latest.drop_id, []) if self.latest else []


def validity(drop: ledger.DropRecord) -> float | None:
    """Share of the rows read that pass every `fail` rule (those not quarantined)."""
    if not drop.rows_read:
        return None
    return 1 - (drop.rows_quarantined or 0) / drop.rows_read


def quality_by_drop(wh: Warehouse) -> pd.DataFrame:
    """Per drop, rule and field: rows checked and rows failing (what the monitors trend)."""
    t = wh.tables.validation_stats
    sql = (f"SELECT drop_id, dataset, rule, COALESCE(field, '') AS field, severity, "
           f"SUM(element_count) AS checked, SUM(unexpected_count) AS failed FROM {t.fullname} "
           f"GROUP BY drop_id, dataset, rule, field, severity ORDER BY drop_id, rule, field")
    return wh.read_table(sql)


def _rules_by_drop(stats: pd.DataFrame) -> dict[str, list[RuleRate]]:
    rules: dict[str, list[RuleRate]] = {}
    for r in stats.itertuples():
        rules.setdefault(str(r.drop_id), []).append(
            RuleRate(str(r.rule), str(r.field), str(r.severity), int(r.checked), int(r.failed)))
    return rules


def dataset_facts(contracts: list[Contract], drops: list[ledger.DropRecord],
                  stats: pd.DataFrame, now: datetime) -> list[DatasetFacts]:
    rules = _rules_by_drop(stats)
    facts = []
    for c in contracts:
        mine = [d for d in drops if d.dataset == c.dataset and d.state in DELIVERY_STATES]
        facts.append(DatasetFacts(c, mine, rules, judge(c.cadence, [d.received_at for d in mine],
                                                        now)))
    return facts


def pbf_shrinkage(wh: Warehouse, drops: list[ledger.DropRecord]) -> dict[str, Any] | None:
    """The counties whose protected farmland shrank with its latest loaded delivery."""
    watched = {c.dataset for c in all_contracts() if c.watch_shrinkage}
    loaded = [d for d in drops if d.dataset in watched and d.state == "loaded"]
    if not loaded:
        return None
    latest = loaded[-1]
    t = wh.tables.pbf_changes
    with wh.engine.connect() as conn:
        rows = conn.execute(select(t.c.county_code, t.c.area_lost_mu, t.c.parcels_removed,
                                   t.c.removed_ids)
                            .where(t.c.drop_id == latest.drop_id, t.c.shrunk)
                            .order_by(t.c.area_lost_mu.desc())).all()
    region = load_region()
    return {"drop_id": latest.drop_id, "file": latest.file,
            "counties": [{"county_code": r.county_code,
                          "county_name": region.county_name(r.county_code),
                          "area_lost_mu": round(r.area_lost_mu, 4),
                          "parcels_removed": r.parcels_removed,
                          "removed_ids": json.loads(r.removed_ids or "[]")} for r in rows]}
