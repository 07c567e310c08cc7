"""The page's per-dataset sections: trend charts, rule pass rates, map previews, shrinkage."""

from __future__ import annotations

from html import escape as e
from typing import Any

from pipelines.report.charts import Stack, line_chart, stacked_bars
from pipelines.report.facts import DatasetFacts, validity
from pipelines.report.links import Linker
from pipelines.report.maps import LayerMap
from pipelines.warehouse.ledger import DropRecord

STATE_LABELS = {"loaded": "已入库", "rejected": "已退回", "pending": "待处理",
                "duplicate": "重复"}


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.2%}"


def rejection_links(drop: DropRecord, linker: Linker) -> str:
    links = linker.rejection_reports(drop)
    return " ".join(f"<a href='{e(href)}'>{e(name)}</a>" for name, href in links) or "—"


def dataset_section(f: DatasetFacts, linker: Linker) -> str:
    c = f.contract
    parts = [f"<section class='dataset' id='ds-{e(c.dataset)}'><h3>{e(c.title)} "
             f"<code>{e(c.dataset)}</code></h3><p>{e(c.department)}</p>"]
    if not f.deliveries:
        return parts[0] + "<p class='late'>尚未报送。</p></section>"
    trend = f.trend
    labels = [d.received_at.strftime("%m-%d") for d in trend]
    loaded = [d.rows_loaded or 0 for d in trend]
    quarantined = [d.rows_quarantined or 0 for d in trend]
    parts.append("<div class='charts'>")
    parts.append(stacked_bars(f"每期记录数（最近 {len(trend)} 期）", labels,
                              [Stack("入库", "#59a14f", loaded),
                               Stack("隔离", "#e15759", quarantined)]))
    parts.append(line_chart("每期合格率（通过全部必过规则的记录占比）", labels,
                            [validity(d) for d in trend]))
    parts.append("</div>")
    rules = f.latest_rules()
    if rules:
        parts.append("<h4>最新一期各规则通过率</h4><table><tr><th>规则</th><th>级别</th>"
                     "<th>检查</th><th>不通过</th><th>通过率</th></tr>")
        parts += [f"<tr><td>{e(r.rule)}</td><td>{e(r.severity)}</td><td>{r.checked}</td>"
                  f"<td>{r.failed}</td><td>{percent(r.pass_rate)}</td></tr>" for r in rules]
        parts.append("</table>")
    parts.append("<h4>历次报送</h4><table><tr><th>接收时间</th><th>文件</th><th>状态</th>"
                 "<th>读入</th><th>入库</th><th>隔离</th><th>标记</th><th>退回报告</th></tr>")
    for d in reversed(trend):
        parts.append(
            f"<tr><td>{e(d.received_at.strftime('%Y-%m-%d %H:%M'))}</td><td>{e(d.file)}</td>"
            f"<td>{e(STATE_LABELS.get(d.state, d.state))}</td><td>{d.rows_read or 0}</td>"
            f"<td>{d.rows_loaded or 0}</td><td>{d.rows_quarantined or 0}</td>"
            f"<td>{d.rows_flagged or 0}</td><td>{rejection_links(d, linker)}</td></tr>")
    parts.append("</table></section>")
    return "".join(parts)


def map_section(name: str, m: LayerMap) -> str:
    shown = f"，预览 {m.drawn} 个" if m.drawn < m.total else ""
    legend = "".join(f"<li><span class='swatch' style='background:{colour}'></span>"
                     f"{e(label)}</li>" for label, colour in m.legend)
    by = f"按 <code>{e(m.column)}</code> 着色" if m.column else ""
    return (f"<figure class='layer' id='layer-{e(name)}'>{m.svg}<figcaption><strong>"
            f"{e(name)}</strong>：{m.total} 个要素{shown}。{by}"
            f"<ul class='legend'>{legend}</ul></figcaption></figure>")


def shrinkage_section(shrinkage: dict[str, Any]) -> str:
    """Protected farmland must not decrease unnoticed: first thing after the overview."""
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
