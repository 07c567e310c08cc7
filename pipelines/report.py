"""The data-quality report: GX Data Docs for every validation, and a front page per dataset."""

from __future__ import annotations

import html
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from pipelines import ledger
from pipelines.contracts import CADENCE_DAYS, all_contracts, load_region
from pipelines.validation.run import gx_context
from pipelines.warehouse import Warehouse

log = logging.getLogger(__name__)


@dataclass
class ReportPaths:
    index: Path
    data_docs: Path | None
    quality_json: Path


def build_data_docs(validations: Path, out_dir: Path) -> Path | None:
    """Feed the stored GX validation results to a GX file context and build its Data Docs."""
    results = sorted(validations.glob("*/*.json")) if validations.is_dir() else []
    if not results:
        return None
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx_context("file", out_dir)
    for path in results:
        dataset, drop_id = path.parent.name, path.stem
        result = ExpectationSuiteValidationResult(**json.loads(path.read_text("utf-8")))
        run_time = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        key = ValidationResultIdentifier(ExpectationSuiteIdentifier(dataset),
                                         RunIdentifier(run_name=drop_id, run_time=run_time),
                                         drop_id)
        context.validation_results_store.set(key, result)
    sites = context.build_data_docs()
    return Path(sites["local_site"].removeprefix("file://"))


def quality_by_drop(wh: Warehouse) -> pd.DataFrame:
    """Per drop and rule: rows checked and rows failing (what the monitors trend)."""
    t = wh.tables.validation_stats
    sql = (f"SELECT drop_id, dataset, rule, severity, SUM(element_count) AS checked, "
           f"SUM(unexpected_count) AS failed FROM {t.fullname} GROUP BY drop_id, dataset, rule, "
           f"severity ORDER BY drop_id, rule")
    return wh.read_table(sql)


def pbf_shrinkage(wh: Warehouse, drops: list[ledger.DropRecord]) -> dict[str, Any] | None:
    """The counties whose permanent basic farmland shrank with the latest loaded delivery."""
    loaded = [d for d in drops if d.dataset == "farmland_pbf" and d.state == "loaded"]
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


def write_report(wh: Warehouse, reports_dir: Path, now: datetime | None = None) -> ReportPaths:
    now = now or datetime.now(UTC)
    reports_dir.mkdir(parents=True, exist_ok=True)
    docs = build_data_docs(reports_dir / "validations", reports_dir)
    drops = ledger.list_drops(wh)
    stats = quality_by_drop(wh)
    summary = []
    for c in all_contracts():
        mine = [d for d in drops if d.dataset == c.dataset]
        answered = [d for d in mine if d.state in ("loaded", "rejected")]
        latest = answered[-1] if answered else None
        age = (now - latest.received_at).days if latest else None
        late = latest is None or (age is not None and age > CADENCE_DAYS[c.cadence])
        rules = stats[stats["drop_id"] == latest.drop_id] if latest else stats.iloc[0:0]
        summary.append({
            "dataset": c.dataset, "title": c.title, "department": c.department,
            "cadence": c.cadence, "deliveries": len(mine),
            "latest_drop": latest.drop_id if latest else None,
            "latest_file": latest.file if latest else None,
            "latest_state": latest.state if latest else None,
            "rows_read": latest.rows_read if latest else None,
            "rows_loaded": latest.rows_loaded if latest else None,
            "rows_quarantined": latest.rows_quarantined if latest else None,
            "rows_flagged": latest.rows_flagged if latest else None,
            "timeliness": "late or missing" if late else "on time",
            "rules": [{"rule": r.rule, "severity": r.severity, "checked": int(r.checked),
                       "failed": int(r.failed),
                       "pass_rate": round(1 - r.failed / r.checked, 4) if r.checked else None}
                      for r in rules.itertuples()],
        })
    shrinkage = pbf_shrinkage(wh, drops)
    quality_json = reports_dir / "quality.json"
    quality_json.write_text(json.dumps({"generated_at": now.isoformat(), "datasets": summary,
                                        "pbf_shrinkage": shrinkage},
                                       ensure_ascii=False, indent=2, default=str), "utf-8")
    index = reports_dir / "index.html"
    index.write_text(_front_page(summary, docs, reports_dir, now, shrinkage), encoding="utf-8")
    return ReportPaths(index, docs, quality_json)


def _shrinkage_section(shrinkage: dict[str, Any]) -> str:
    """Protected farmland must not decrease unnoticed: first thing after the overview."""
    e = html.escape
    head = (f"<h2>永久基本农田面积减少</h2><p>最新一期报送 {e(str(shrinkage['file']))}"
            f"（<code>{e(str(shrinkage['drop_id']))}</code>）")
    counties = shrinkage["counties"]
    if not counties:
        return head + "：与上一期相比，没有县区面积减少。</p>"
    rows = [f"<tr><td>{e(c['county_code'])}</td><td>{e(c['county_name'] or '')}</td>"
            f"<td class='late'>{c['area_lost_mu']:.2f}</td><td>{c['parcels_removed']}</td>"
            f"<td>{e(', '.join(c['removed_ids'][:20]))}"
            f"{' …' if len(c['removed_ids']) > 20 else ''}</td></tr>" for c in counties]
    return (head + "：以下县区的永久基本农田面积比上一期减少。</p><table><tr><th>县区代码</th>"
            "<th>县区</th><th>减少面积（亩）</th><th>移除图斑</th><th>移除图斑编号</th></tr>"
            + "".join(rows) + "</table>")


def _percent(rate: object) -> str:
    return "" if rate is None else f"{float(rate):.2%}"  # type: ignore[arg-type]


def _front_page(summary: list[dict[str, object]], docs: Path | None, root: Path,
                now: datetime, shrinkage: dict[str, Any] | None = None) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
        "<title>yitu 数据质量报告</title><style>body{font-family:sans-serif;margin:2em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}"
        ".late{color:#b00}.ok{color:#070}</style></head><body>",
        f"<h1>一图 数据质量报告</h1><p>生成时间 {e(now.isoformat(timespec='seconds'))}</p>",
    ]
    if docs:
        parts.append(f"<p><a href='{e(str(docs.relative_to(root)))}'>Great Expectations Data Docs"
                     "（每次校验的完整结果）</a></p>")
    parts.append("<table><tr><th>数据集</th><th>部门</th><th>最新报送</th><th>状态</th>"
                 "<th>读入</th><th>入库</th><th>隔离</th><th>标记</th><th>及时性</th></tr>")
    for s in summary:
        cls = "late" if s["timeliness"] != "on time" else "ok"
        parts.append(
            f"<tr><td>{e(str(s['title']))}<br><code>{e(str(s['dataset']))}</code></td>"
            f"<td>{e(str(s['department']))}</td><td>{e(str(s['latest_file'] or '—'))}</td>"
            f"<td>{e(str(s['latest_state'] or '—'))}</td><td>{s['rows_read'] or 0}</td>"
            f"<td>{s['rows_loaded'] or 0}</td><td>{s['rows_quarantined'] or 0}</td>"
            f"<td>{s['rows_flagged'] or 0}</td><td class='{cls}'>{e(str(s['timeliness']))}</td></tr>")
    parts.append("</table>")
    if shrinkage is not None:
        parts.append(_shrinkage_section(shrinkage))
    for s in summary:
        rules = s["rules"]
        if not rules:
            continue
        parts.append(f"<h2>{e(str(s['title']))}：各规则通过率</h2><table><tr><th>规则</th>"
                     "<th>级别</th><th>检查</th><th>不通过</th><th>通过率</th></tr>")
        for r in rules:  # type: ignore[attr-defined]
            parts.append(f"<tr><td>{e(str(r['rule']))}</td><td>{e(str(r['severity']))}</td>"
                         f"<td>{r['checked']}</td><td>{r['failed']}</td>"
                         f"<td>{_percent(r['pass_rate'])}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
