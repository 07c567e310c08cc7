"""One page per dataset (`dataset-<name>.html`): trend charts over every delivery, then each
recent delivery with its validation results rule by rule (Chinese, failing rows, the answer
workbook) and its profile column by column against the delivery before."""

from __future__ import annotations

from datetime import datetime
from html import escape as e

from pipelines.contracts import Region
from pipelines.load.answer import WORKBOOK
from pipelines.report.charts import Stack, line_chart, stacked_bars
from pipelines.report.facts import DatasetFacts, RuleRate, validity
from pipelines.report.links import Linker
from pipelines.report.profile import Movement, Profile
from pipelines.report.rules import ANY_FIELD, FailingRow, SampleKey, rule_text
from pipelines.report.site import Cell, percent, shell, table
from pipelines.report.timeliness import CADENCE_LABELS
from pipelines.warehouse.ledger import DropRecord

STATE_LABELS = {"loaded": "已入库", "rejected": "已退回", "pending": "待处理",
                "duplicate": "重复"}
LOADED, QUARANTINED = "#59a14f", "#e15759"


def page_name(dataset: str) -> str:
    return f"dataset-{dataset}.html"


def rejection_links(drop: DropRecord, linker: Linker) -> str:
    links = linker.rejection_reports(drop)
    return " ".join(f"<a href='{e(href)}'>{e(name)}</a>" for name, href in links) or "—"


def _charts(f: DatasetFacts) -> str:
    every = f.deliveries
    labels = [d.received_at.strftime("%m-%d") for d in every]
    return ("<div class='charts'>"
            + stacked_bars(f"每期记录数（全部 {len(every)} 期）", labels,
                           [Stack("入库", LOADED, [d.rows_loaded or 0 for d in every]),
                            Stack("隔离", QUARANTINED, [d.rows_quarantined or 0 for d in every])])
            + line_chart("每期合格率（通过全部必过规则的记录占比）", labels,
                         [validity(d) for d in every])
            + "</div>")


def _samples(rows: list[FailingRow]) -> str:
    if not rows:
        return "—"
    return "<br>".join(
        f"第 {r.source_row} 行" + (f" {e(r.identifier)}" if r.identifier else "")
        + (f"：<code>{e(r.value)}</code>" if r.value else "") for r in rows)


def _rules(f: DatasetFacts, drop: DropRecord, region: Region,
           samples: dict[SampleKey, list[FailingRow]], linker: Linker) -> str:
    rules: list[RuleRate] = f.rules.get(drop.drop_id, [])
    if not rules:
        return "<p>本期没有逐条校验结果（文件整体退回或尚未校验）。</p>"
    workbook = dict(linker.rejection_reports(drop)).get(WORKBOOK)
    rows: list[list[Cell]] = []
    for r in sorted(rules, key=lambda r: (-r.failed, r.rule, r.field)):
        text = rule_text(r.rule, r.field or None, r.severity, f.contract, region)
        failing = (samples.get((drop.drop_id, r.rule, r.field))
                   or samples.get((drop.drop_id, r.rule, ANY_FIELD), []))
        fix = e(text.hint) + (f"<br><a class='workbook' href='{e(workbook)}'>答复工作簿</a>"
                              if workbook and r.failed else "")
        rows.append([f"{e(text.name)}<br><code>{e(r.rule)}</code>", e(text.description),
                     e(text.severity), (str(r.checked), "num"),
                     (str(r.failed), "num bad" if r.failed else "num"),
                     (percent(r.pass_rate), "num"), _samples(failing),
                     fix if r.failed else "—"])
    return table(["规则", "说明（来自数据契约）", "不合格时", "检查", "不通过", "通过率",
                  "不合格记录示例（个人信息已脱敏）", "修改方法"], rows, "rules")


def _profile(profile: Profile | None, moved: list[Movement]) -> str:
    if profile is None:
        return "<p>本期没有入库记录，无数据剖析。</p>"
    rows: list[list[Cell]] = [
        [f"{e(c.label)}<br><code>{e(c.column)}</code>", (f"{c.nulls:,}", "num"),
         (percent(c.nulls / profile.rows if profile.rows else None), "num"),
         (f"{c.distinct:,}", "num"),
         "<br>".join(f"{e(v[:40])}（{n:,}）" for v, n in c.top) or "—",
         e(f"{c.minimum} – {c.maximum}") if c.minimum is not None else "—"]
        for c in profile.columns]
    out = (f"<p>本期入库 {profile.rows:,} 条记录。</p>"
           + table(["字段", "空值", "空值率", "不同值", "最常见的值", "取值范围"], rows, "profile"))
    if moved:
        changes: list[list[Cell]] = [[e(m.column) or "整期", e(m.what), e(m.before), e(m.after),
                    ("突变" if m.flagged else "", "bad" if m.flagged else "")] for m in moved]
        out += "<h5>与上一期入库报送相比</h5>" + table(
            ["字段", "指标", "上一期", "本期", "提示"], changes, "movements")
    return out


def dataset_page(f: DatasetFacts, region: Region, samples: dict[SampleKey, list[FailingRow]],
                 profiles: dict[str, tuple[Profile | None, list[Movement]]], linker: Linker,
                 now: datetime) -> str:
    c = f.contract
    head = (f"<p>{e(c.department)} · <code>{e(c.dataset)}</code> · 报送周期 "
            f"{e(CADENCE_LABELS.get(c.cadence, c.cadence))} · 及时性 "
            f"<span class='{'ok' if f.timeliness.status == 'on time' else 'late'}'>"
            f"{e(f.timeliness.label)}</span></p>")
    if not f.deliveries:
        return shell(c.title, head + "<p class='late'>尚未报送。</p>", now)
    parts = [head, "<h2>趋势</h2>", _charts(f), "<h2>历次报送</h2>"]
    parts.append(table(["接收时间", "文件", "状态", "读入", "入库", "隔离", "标记", "答复"], [
        [f"<a href='#drop-{e(d.drop_id)}'>{e(d.received_at.strftime('%Y-%m-%d %H:%M'))}</a>"
         if d in f.recent else e(d.received_at.strftime('%Y-%m-%d %H:%M')), e(d.file),
         e(STATE_LABELS.get(d.state, d.state)), str(d.rows_read or 0), str(d.rows_loaded or 0),
         str(d.rows_quarantined or 0), str(d.rows_flagged or 0), rejection_links(d, linker)]
        for d in reversed(f.deliveries)]))
    for i, d in enumerate(f.recent):
        profile, moved = profiles.get(d.drop_id, (None, []))
        flagged = sum(m.flagged for m in moved)
        summary = (f"{e(d.received_at.strftime('%Y-%m-%d %H:%M'))} {e(d.file)}（"
                   f"{e(STATE_LABELS.get(d.state, d.state))}"
                   + (f"，<span class='bad'>{flagged} 处突变</span>" if flagged else "") + "）")
        parts.append(f"<section class='delivery' id='drop-{e(d.drop_id)}'><details"
                     f"{' open' if i == 0 else ''}><summary>{summary}</summary>"
                     f"<h4>校验结果</h4>{_rules(f, d, region, samples, linker)}"
                     f"<h4>数据剖析</h4>{_profile(profile, moved)}</details></section>")
    return shell(f"{c.title}（{c.department}）", "".join(parts), now)
