"""Is a department's delivery late? The same judgement as the quality report's timeliness."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.contracts import load_contract
from pipelines.report.timeliness import DELIVERY_STATES, Timeliness, judge
from pipelines.warehouse import Warehouse, ledger


def timeliness(wh: Warehouse, dataset: str, now: datetime | None = None) -> Timeliness:
    received = [d.received_at for d in ledger.list_drops(wh, dataset=dataset)
                if d.state in DELIVERY_STATES]
    return judge(load_contract(dataset).cadence, received, now or datetime.now(UTC))
