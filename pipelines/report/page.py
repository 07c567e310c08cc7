"""The front page: overview, timeliness, scorecard, then per-dataset detail and layer maps."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from html import escape as e
from typing import Any

from pipelines.report.facts import DatasetFacts
from pipelines.report.links import Linker
from pipelines.report.maps import LayerMap
from pipelines.report.scorecard import Score
from pipelines.report.sections import (
    STATE_LABELS,
    dataset_section,
    map_section,
    percent,
    rejection_links,
    shrinkage_section,
)
from pipelines.report.timeliness import CADENCE_LABELS

STYLE = """body{font-family:"Noto Sans CJK SC","WenQuanYi Zen Hei",sans-serif;margin:2em;
color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;
padding:4px 8px}th{background:#f2f2f2}.late{color:#b00}.ok{color:#070}nav a{margin-right:1em}
.charts{display:flex;flex-wrap:wrap;gap:1em}.chart .chart-title{font-size:12px;font-weight:bold}
.chart .axis{font-size:10px;fill:#555}.maps{display:flex;flex-wrap:wrap;gap:1.5em}
figure.layer{margin:0}.legend{list-style:none;padding:0;font-size:12px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px}"""
SECTIONS = (("overview", "概览"), ("timeliness", "及时性"), ("scorecard", "部门评分"),
            ("datasets", "数据集详情"), ("maps", "图层预览"))


def _date(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else "—"


def _status_class(f: DatasetFacts) -> str:
    return "ok" if f.timeliness.status == "on time" else "late"


Cell = str | tuple[str, str]  # HTML, or (HTML, CSS class)


def _table(headers: list[str], rows: Iterable[list[Cell]], cls: str = "") -> str:
    def td(cell: Cell) -> str:
        return (f"<td class='{cell[1]}'>{cell[0]}</td>" if isinstance(cell, tuple)
                else f"<td>{cell}</td>")

    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(td(c) for c in row) + "</tr>" for row in rows)
    attr = f" class='{cls}'" if cls else ""
    return f"<table{attr}><tr>{head}</tr>{body}</table>"


def _overview(facts: list[DatasetFacts], linker: Linker) -> str:
    rows: list[list[Cell]] = []
    for f in sorted(facts, key=lambda f: (f.contract.department, f.contract.dataset)):
        d, c = f.latest, f.contract
        latest: list[Cell] = (["—"] * 6 if d is None else [
            f"{e(d.file)}<br>{e(_date(d.received_at))}", e(STATE_LABELS.get(d.state, d.state)),
            str(d.rows_read or 0), str(d.rows_loaded or 0), str(d.rows_quarantined or 0),
            str(d.rows_flagged or 0)])
        rows.append([e(c.department),
                     f"<a href='#ds-{e(c.dataset)}'>{e(c.title)}</a><br><code>{e(c.dataset)}</code>",
                     *latest, (e(f.timeliness.label), _status_class(f)),
                     rejection_links(d, linker) if d else "—"])
    return _table(["部门", "数据集", "最新报送", "状态", "读入", "入库", "隔离", "标记", "及时性",
                   "退回报告"], rows)


def _timeliness(facts: list[DatasetFacts]) -> str:
    rows: list[list[Cell]] = [
        [e(f.contract.title), e(f.contract.department),
         e(CADENCE_LABELS.get(f.timeliness.cadence, f.timeliness.cadence)),
         _date(f.timeliness.last_delivery), _date(f.timeliness.expected_next),
         (e(f.timeliness.label), _status_class(f))] for f in facts]
    return _table(["数据集", "部门", "报送周期", "最近报送", "下次应报", "及时性"], rows)


def _scorecard(scores: list[Score]) -> str:
    rows: list[list[Cell]] = [
        [str(rank), e(s.department), str(s.datasets), percent(s.completeness),
         percent(s.validity), percent(s.timeliness), f"<strong>{percent(s.overall)}</strong>"]
        for rank, s in enumerate(scores, 1)]
    return (_table(["名次", "部门", "数据集数", "完整性", "有效性", "及时性", "综合"], rows,
                   "scorecard")
            + "<p class='note'>完整性：必填字段有值的比例；有效性："
            "通过全部必过规则的记录比例；及时性：按报送周期按时报送的数据集比例；均按各数据集最新"
            "一期计算，综合为三者平均。</p>")


def front_page(facts: list[DatasetFacts], scores: list[Score], maps: dict[str, LayerMap],
               linker: Linker, docs_href: str | None, now: datetime,
               shrinkage: dict[str, Any] | None) -> str:
    nav = "".join(f"<a href='#{key}'>{label}</a>" for key, label in SECTIONS)
    parts = ["<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>",
             f"<title>yitu 数据质量报告</title><style>{STYLE}</style></head><body>",
             f"<h1>一图 数据质量报告</h1><p>生成时间 {e(now.isoformat(timespec='seconds'))}</p>",
             f"<nav>{nav}</nav>"]
    if docs_href:
        parts.append(f"<p><a class='data-docs' href='{e(docs_href)}'>Great Expectations Data "
                     "Docs（每次校验的完整结果）</a></p>")
    parts.append(f"<section id='overview'><h2>概览</h2>{_overview(facts, linker)}</section>")
    if shrinkage is not None:
        parts.append(shrinkage_section(shrinkage))
    parts.append(f"<section id='timeliness'><h2>及时性</h2>{_timeliness(facts)}</section>")
    parts.append(f"<section id='scorecard'><h2>部门评分</h2>{_scorecard(scores)}</section>")
    parts.append("<section id='datasets'><h2>数据集详情</h2>")
    parts += [dataset_section(f, linker) for f in facts]
    parts.append("</section><section id='maps'><h2>图层预览</h2><div class='maps'>")
    parts += [map_section(name, m) for name, m in maps.items()]
    parts.append("</div></section></body></html>")
    return "\n".join(parts)
