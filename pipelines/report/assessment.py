"""The quarterly assessment as monitors review it: one page per quarter
(`assessment-2026Q3.html`, the latest also as `assessment.html`), chosen by plain links so it
works without JavaScript; counties and departments ranked, with the change against the quarter
before, and the counties that missed the region's satisfaction target first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape as e

import pandas as pd

from pipelines.contracts import LayerContract
from pipelines.report.site import Cell, percent, shell, table

LATEST_PAGE = "assessment.html"
# Counties rank by the figure the province holds them to (满意率), then 诉求解决率, then the
# fewest complaints per 10,000 business entities; departments by their delivery score.
COUNTY_ORDER: tuple[tuple[str, bool], ...] = (
    ("satisfaction_rate", False), ("resolution_rate", False), ("complaints_per_10k", True))
DEPARTMENT_ORDER: tuple[tuple[str, bool], ...] = (("score", False), ("rows_rejected", True))
RATES = ("resolution_rate", "satisfaction_rate", "sla_contact_rate", "sla_proposal_rate",
         "sla_solved_rate")


def quarter_page(quarter: str) -> str:
    return f"assessment-{quarter}.html"


def ranked(frame: pd.DataFrame, key: str, order: Sequence[tuple[str, bool]], quarter: str,
           measures: Sequence[str]) -> pd.DataFrame:
    """The rows of `quarter`, best first, with `rank`, `rank_change` (places gained since the
    quarter before; NA when the row is new) and `<measure>_change` per measure."""
    quarters = sorted(frame["quarter"].unique())
    at = quarters.index(quarter)

    def ranking(q: str) -> pd.DataFrame:
        rows = frame[frame["quarter"] == q].sort_values(
            [c for c, _ in order] + [key], ascending=[a for _, a in order] + [True],
            na_position="last", kind="stable").reset_index(drop=True)
        return rows.assign(rank=range(1, len(rows) + 1))

    now = ranking(quarter)
    if at == 0:
        return now.assign(rank_change=pd.NA, **{f"{m}_change": pd.NA for m in measures})
    before = ranking(quarters[at - 1]).set_index(key)
    prev = before.reindex(now[key])
    changes = {f"{m}_change": now[m].to_numpy(dtype=float) - prev[m].to_numpy(dtype=float)
               for m in measures}
    return now.assign(rank_change=(prev["rank"].to_numpy(dtype=float) - now["rank"]),
                      **changes)


def _move(places: float) -> Cell:
    if pd.isna(places):
        return ("新", "")
    n = int(places)
    return ("—", "") if n == 0 else (f"↑{n}", "ok") if n > 0 else (f"↓{-n}", "late")


def _delta(value: float | None, rate: bool, higher_is_better: bool = True) -> str:
    if value is None or pd.isna(value):
        return ""
    v = float(value)
    if abs(v) < 1e-12:
        return " <span class='note'>（0）</span>"
    good = (v > 0) == higher_is_better
    text = f"{v * 100:+.1f}" if rate else f"{v:+,.1f}"
    return f" <span class='{'ok' if good else 'late'}'>（{text}）</span>"


def _value(row: pd.Series, column: str, integer: bool) -> str:
    v = row.get(column)
    if v is None or pd.isna(v):
        return "—"
    if column in RATES:
        return percent(float(v))
    return f"{int(v):,}" if integer else f"{float(v):,.1f}"


def _false(flag: object) -> bool:
    """A target judged and missed (NA: nothing to judge, e.g. no evaluated work orders)."""
    return flag is not None and not pd.isna(flag) and not bool(flag)


def _missed(rows: pd.DataFrame) -> str:
    missed = rows[[_false(v) for v in rows["satisfaction_met"]]]
    if missed.empty:
        return "<p class='ok'>本季度所有县区的满意率均达到目标。</p>"
    names = "、".join(f"{e(str(r.county_name))}（{percent(float(r.satisfaction_rate))}，目标 "
                     f"{percent(float(r.satisfaction_target))}）" for r in missed.itertuples())
    return f"<p class='late missed'>未达到满意率目标的县区（{len(missed)} 个）：{names}</p>"


def _counties(rows: pd.DataFrame, layer: LayerContract) -> str:
    label = {c.name: c.label for c in layer.columns}
    integers = set(layer.columns_of_type("integer"))
    shown = [c for c in ("complaints", "business_entities", "complaints_per_10k",
                         "resolution_rate", "satisfaction_rate", "sla_contact_rate",
                         "sla_proposal_rate", "sla_solved_rate", "pbf_area_mu",
                         "pbf_area_change_mu", "quality_score") if c in rows.columns]
    lower_better = {"complaints", "complaints_per_10k"}
    out: list[list[Cell]] = []
    for _, r in rows.iterrows():
        cells: list[Cell] = [str(r["rank"]), _move(r["rank_change"]),
                             f"{e(str(r['county_name']))}<br><code>{e(str(r['county_code']))}"
                             "</code>"]
        for c in shown:
            text = _value(r, c, c in integers)
            if f"{c}_change" in r.index:
                text += _delta(r[f"{c}_change"], c in RATES, c not in lower_better)
            missed = c == "satisfaction_rate" and _false(r.get("satisfaction_met"))
            shrank = c == "pbf_area_change_mu" and not pd.isna(r[c]) and float(r[c]) < 0
            cells.append((text, "num bad" if missed or shrank else "num"))
        out.append(cells)
    return table(["名次", "名次变化", "县区", *(e(label.get(c, c)) for c in shown)], out,
                 "ranking counties")


def _departments(rows: pd.DataFrame) -> str:
    out: list[list[Cell]] = [
        [str(r["rank"]), _move(r["rank_change"]), e(str(r["department"])),
         f"{int(r['deliveries_on_time'])} / {int(r['deliveries_expected'])}",
         (str(int(r["deliveries_late"])), "num late" if r["deliveries_late"] else "num"),
         (str(int(r["deliveries_missing"])), "num late" if r["deliveries_missing"] else "num"),
         (f"{int(r['rows_received']):,}", "num"), (f"{int(r['rows_rejected']):,}", "num"),
         (f"{float(r['score']):.1f}" + _delta(r.get("score_change"), False), "num")]
        for _, r in rows.iterrows()]
    return table(["名次", "名次变化", "部门", "按时报送 / 应报送", "逾期", "未报送", "报送行数",
                  "未通过行数", "得分"], out, "ranking departments")


@dataclass(frozen=True)
class QuarterPage:
    quarter: str
    html: str


def assessment_pages(counties: pd.DataFrame, departments: pd.DataFrame | None,
                     layer: LayerContract, now: datetime) -> list[QuarterPage]:
    """One page per quarter with data, oldest first; empty when nothing is assessed yet."""
    quarters = sorted(set(counties["quarter"]) | set(
        departments["quarter"] if departments is not None else []))
    pages = []
    for q in quarters:
        nav = "".join(f"<a href='{quarter_page(x)}' class='{'current' if x == q else ''}'>"
                      f"{e(x)}</a>" for x in quarters)
        parts = [f"<nav class='quarters'>季度：{nav}</nav>"]
        mine = counties[counties["quarter"] == q]
        if not mine.empty:
            measures = [m for m in ("complaints", "complaints_per_10k", *RATES, "quality_score")
                        if m in counties.columns]
            rows = ranked(counties, "county_code", COUNTY_ORDER, q, measures)
            parts += ["<h2 id='counties'>县区排名</h2>", _missed(rows), _counties(rows, layer),
                      "<p class='note'>按满意率、诉求解决率从高到低，万家投诉比从低到高排名；"
                      "括号内为与上一季度相比的变化（比率以百分点计），绿色为改善，红色为变差。"
                      "</p>"]
        if departments is not None and (departments["quarter"] == q).any():
            rows = ranked(departments, "department", DEPARTMENT_ORDER, q, ["score"])
            parts += ["<h2 id='departments'>部门排名</h2>", _departments(rows)]
        pages.append(QuarterPage(q, shell(f"{q} 季度考核", "".join(parts), now)))
    return pages
