"""The per-department scorecard, in the spirit of the quarterly evaluations they receive."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import mean

from pipelines.report.facts import DatasetFacts


@dataclass(frozen=True)
class Score:
    department: str
    datasets: int
    completeness: float | None  # share of required values present in the rows read
    validity: float | None  # share of rows read passing every `fail` rule
    timeliness: float  # share of the department's datasets delivered on time

    @property
    def overall(self) -> float:
        return mean(v for v in (self.completeness, self.validity, self.timeliness)
                    if v is not None)


def _ratio(good: int, total: int) -> float | None:
    return good / total if total else None


def department_scores(facts: list[DatasetFacts]) -> list[Score]:
    """Judged on each dataset's latest delivery; best first."""
    by_department: dict[str, list[DatasetFacts]] = {}
    for f in facts:
        by_department.setdefault(f.contract.department, []).append(f)
    scores = []
    for department, mine in by_department.items():
        latest = [f.latest for f in mine if f.latest is not None]
        required = [r for f in mine for r in f.latest_rules() if r.rule == "required"]
        read = sum(d.rows_read or 0 for d in latest)
        passed = sum((d.rows_read or 0) - (d.rows_quarantined or 0) for d in latest)
        scores.append(Score(
            department, len(mine),
            _ratio(sum(r.checked - r.failed for r in required), sum(r.checked for r in required)),
            _ratio(passed, read),
            sum(f.timeliness.status == "on time" for f in mine) / len(mine)))
    return sorted(scores, key=lambda s: (-s.overall, s.department))
