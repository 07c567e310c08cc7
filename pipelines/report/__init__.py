"""The data-quality report: a static site (front page, GX Data Docs, quality.json) that a
monitor opens in a browser. Everything is drawn here; nothing is fetched when it is viewed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import settings
from pipelines.contracts import all_contracts
from pipelines.report.docs import build_data_docs
from pipelines.report.facts import (
    DatasetFacts,
    dataset_facts,
    pbf_shrinkage,
    quality_by_drop,
    validity,
)
from pipelines.report.links import Linker
from pipelines.report.maps import layer_map
from pipelines.report.page import front_page
from pipelines.report.scorecard import Score, department_scores
from pipelines.warehouse import Warehouse, ledger

__all__ = ["ReportPaths", "build_data_docs", "pbf_shrinkage", "quality_by_drop", "write_report"]


@dataclass
class ReportPaths:
    index: Path
    data_docs: Path | None
    quality_json: Path


def write_report(wh: Warehouse, reports_dir: Path, now: datetime | None = None) -> ReportPaths:
    now = now or datetime.now(UTC)
    reports_dir.mkdir(parents=True, exist_ok=True)
    docs = build_data_docs(reports_dir / "validations", reports_dir)
    drops = ledger.list_drops(wh)
    facts = dataset_facts(all_contracts(), drops, quality_by_drop(wh), now)
    scores = department_scores(facts)
    shrinkage = pbf_shrinkage(wh, drops)
    s = settings()
    linker = Linker(reports_dir, s.home, s.quarantine)
    maps = {name: layer_map(name, wh.read_published(name)) for name in wh.published_layers()}
    quality_json = reports_dir / "quality.json"
    quality_json.write_text(json.dumps(
        {"generated_at": now.isoformat(), "datasets": [_summary(f) for f in facts],
         "scorecard": [_score(s) for s in scores], "pbf_shrinkage": shrinkage},
        ensure_ascii=False, indent=2, default=str), "utf-8")
    docs_href = linker.href(docs) if docs else None
    index = reports_dir / "index.html"
    index.write_text(front_page(facts, scores, maps, linker, docs_href, now, shrinkage),
                     encoding="utf-8")
    return ReportPaths(index, docs, quality_json)


def _summary(f: DatasetFacts) -> dict[str, Any]:
    c, d, t = f.contract, f.latest, f.timeliness
    return {
        "dataset": c.dataset, "title": c.title, "department": c.department,
        "cadence": c.cadence, "deliveries": len(f.deliveries),
        "latest_drop": d.drop_id if d else None, "latest_file": d.file if d else None,
        "latest_state": d.state if d else None,
        "rows_read": d.rows_read if d else None, "rows_loaded": d.rows_loaded if d else None,
        "rows_quarantined": d.rows_quarantined if d else None,
        "rows_flagged": d.rows_flagged if d else None,
        "validity": validity(d) if d else None,
        "timeliness": t.status, "last_delivery": t.last_delivery,
        "expected_next": t.expected_next, "days_late": t.days_late,
        "rules": [{"rule": r.rule, "severity": r.severity, "checked": r.checked,
                   "failed": r.failed,
                   "pass_rate": None if r.pass_rate is None else round(r.pass_rate, 4)}
                  for r in f.latest_rules()],
    }


def _score(s: Score) -> dict[str, Any]:
    return {"department": s.department, "datasets": s.datasets,
            "completeness": s.completeness, "validity": s.validity,
            "timeliness": s.timeliness, "overall": s.overall}
