"""Timeliness: each contract's cadence says when the next delivery is due."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pipelines.contracts import CADENCE_DAYS

Status = Literal["on time", "late", "missing"]
STATUS_LABELS: dict[str, str] = {"on time": "按时", "late": "逾期", "missing": "未报送"}
CADENCE_LABELS: dict[str, str] = {"daily": "每日", "weekly": "每周", "monthly": "每月",
                                  "quarterly": "每季度", "yearly": "每年"}
# A duplicate re-sends a file already received: it is not a fresh delivery.
DELIVERY_STATES = ("pending", "loaded", "rejected")


@dataclass(frozen=True)
class Timeliness:
    cadence: str
    last_delivery: datetime | None
    expected_next: datetime | None
    status: Status
    days_late: int = 0

    @property
    def label(self) -> str:
        if self.status == "late":
            return f"{STATUS_LABELS['late']} {self.days_late} 天"
        return STATUS_LABELS[self.status]


def judge(cadence: str, deliveries: Sequence[datetime], now: datetime) -> Timeliness:
    """On time until the end of the day the next delivery is due; never delivered = missing."""
    if not deliveries:
        return Timeliness(cadence, None, None, "missing")
    last = max(deliveries)
    expected = last + timedelta(days=CADENCE_DAYS[cadence])
    overdue = (now.date() - expected.date()).days
    if overdue > 0:
        return Timeliness(cadence, last, expected, "late", overdue)
    return Timeliness(cadence, last, expected, "on time")
