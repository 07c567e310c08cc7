"""The front page (overview, farmland shrinkage, timeliness, scorecard, links to every other
page) and the map page (one preview per published layer, county outlines, Chinese legends)."""

from __future__ import annotations

from datetime import datetime
from html import escape as e
from typing import Any

from pipelines.contracts import LayerContract
from pipelines.report.dataset_page import STATE_LABELS, page_name, rejection_links
from pipelines.report.facts import DatasetFacts
from pipelines.report.links import Linker
from pipelines.report.maps import LayerMap
from pipelines.report.scorecard import Score
from pipelines.report.site import Cell, date, legend_list, percent, shell, swatch, table
from pipelines.report.timeliness import CADENCE_LABELS

SECTIONS = (("overview", "概览"), ("timeliness", "及时性"), ("scorecard", "部门评分"))
OUTLINE = "#333333"


def _status_class(f: DatasetFacts) -> str:
    return "ok" if f.timeliness.status == "on time" else "late"


def _overview(facts: list[DatasetFacts], linker: Linker) -> str:
    rows: list[list[Cell]] = []
    for f in sorted(facts, key=lambda f: (f.contract.department, f.contract.dataset)):
        d, c = f.latest, f.contract
        latest: list[Cell] = (["—"] * 6 if d is None else [
            f"{e(d.file)}<br>{e(date(d.received_at))}", e(STATE_LABELS.get(d.state, d.state)),
            str(d.rows_read or 0), str(d.rows_loaded or 0), str(d.rows_quarantined or 0),
            str(d.rows_flagged or 0)])
        rows.append([e(c.department),
                     f"<a href='{page_name(c.dataset)}'>{e(c.title)}</a><br>"
                     f"<code>{e(c.dataset)}</code>",
                     *latest, (e(f.timeliness.label), _status_class(f)),
                     rejection_links(d, linker) if d else "—"])
    return table(["部门", "数据集（校验结果与数据剖析）", "最新报送", "状态", "读入", "入库", "隔离",
                  "标记", "及时性", "答复"], rows)


def _timeliness(facts: list[DatasetFacts]) -> str:
    rows: list[list[Cell]] = [
        [e(f.contract.title), e(f.contract.department),
         e(CADENCE_LABELS.get(f.timeliness.cadence, f.timeliness.cadence)),
         date(f.timeliness.last_delivery), date(f.timeliness.expected_next),
         (e(f.timeliness.label), _status_class(f))] for f in facts]
    return table(["数据集", "部门", "报送周期", "最近报送", "下次应报", "及时性"], rows)


def _scorecard(scores: list[Score]) -> str:
    rows: list[list[Cell]] = [
        [str(rank), e(s.department), str(s.datasets), percent(s.completeness),
         percent(s.validity), percent(s.timeliness), f"<strong>{percent(s.overall)}</strong>"]
        for rank, s in enumerate(scores, 1)]
    return (table(["名次", "部门", "数据集数", "完整性", "有效性", "及时性", "综合"], rows,
                  "scorecard")
            + "<p class='note'>完整性：必填字段有值的比例；有效性："
            "通过全部必过规则的记录比例；及时性：按报送周期按时报送的数据集比例；均按各数据集最新"
            "一期计算，综合为三者平均。</p>")


def shrinkage_section(shrinkage: dict[str, Any]) -> str:
    """Protected farmland must not decrease unnoticed: first thing after the overview."""
    head = (f"<section id='shrinkage'><h2>永久基本农田面积减少</h2><p>最新一期报送 "
            f"{e(str(shrinkage['file']))}（<code>{e(str(shrinkage['drop_id']))}</code>）")
    counties = shrinkage["counties"]
    if not counties:
        return head + "：与上一期相比，没有县区面积减少。</p></section>"
    rows: list[list[Cell]] = [
        [e(c["county_code"]), e(c["county_name"] or ""), (f"{c['area_lost_mu']:.2f}", "late"),
         str(c["parcels_removed"]),
         e(", ".join(c["removed_ids"][:20])) + (" …" if len(c["removed_ids"]) > 20 else "")]
        for c in counties]
    return (head + "：以下县区的永久基本农田面积比上一期减少。</p>"
            + table(["县区代码", "县区", "减少面积（亩）", "移除图斑", "移除图斑编号"], rows)
            + "</section>")


def front_page(facts: list[DatasetFacts], scores: list[Score], linker: Linker, now: datetime,
               shrinkage: dict[str, Any] | None) -> str:
    nav = "".join(f"<a href='#{key}'>{label}</a>" for key, label in SECTIONS)
    parts = [f"<nav class='sections'>{nav}</nav>",
             f"<section id='overview'><h2>概览</h2>{_overview(facts, linker)}</section>"]
    if shrinkage is not None:
        parts.append(shrinkage_section(shrinkage))
    parts.append(f"<section id='timeliness'><h2>及时性</h2>{_timeliness(facts)}</section>")
    parts.append(f"<section id='scorecard'><h2>部门评分</h2>{_scorecard(scores)}</section>")
    return shell("一图 数据质量报告", "".join(parts), now)


def _map_figure(layer: LayerContract | None, name: str, m: LayerMap) -> str:
    labels = {c.name: c.label for c in layer.columns} if layer else {}
    title = layer.title if layer else name
    shown = f"，预览 {m.drawn} 个" if m.drawn < m.total else ""
    by = f"按「{e(labels.get(m.column, m.column))}」着色。" if m.column else ""
    return (f"<figure class='layer' id='layer-{e(name)}'>{m.svg}<figcaption><strong>"
            f"{e(title)}</strong> <code>{e(name)}</code>：{m.total} 个要素{shown}。{by}"
            f"{legend_list(m.legend)}<p class='note'>{swatch(OUTLINE, outline=True)}"
            "县级行政区界</p></figcaption></figure>")


def maps_page(maps: dict[str, LayerMap], layers: dict[str, LayerContract], now: datetime
              ) -> str:
    figures = "".join(_map_figure(layers.get(n), n, m) for n, m in maps.items())
    body = (f"<div class='maps'>{figures}</div>" if maps
            else "<p>尚未发布任何图层。</p>")
    return shell("图层预览", body, now)
