"""The 隔离 and 标记 sheets: one line per bad row, its values as text, the failing cells
highlighted and commented with the reason and the fix."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from pipelines.landing.field_rules import (
    SEVERITY_ZH,
    field_label,
    identifying_field,
    rule_name,
)
from pipelines.load.workbook_hints import HintContext, hint
from pipelines.load.workbook_rows import clip, is_formula_like, row_texts, value_text

COMMENT_LIMIT = 20_000  # cell comments per sheet; past it the reason column still says all
# Bad rows listed per sheet. xlsxwriter holds a sheet in memory until the workbook closes
# (about 10 KB per listed row with its formats and comments: 300,000 rows took 2.5 GB and
# 5 minutes), and nobody corrects more than a few thousand rows by hand: past this the clerk
# fixes the pattern the summary sheet names, and rejections.csv (opened in Excel too) lists
# every row. The summary sheet always counts every failure.
SHEET_ROW_LIMIT = 10_000
FILL = {"fail": "#FFC7CE", "warn": "#FFEB9C"}
FONT = {"fail": "#9C0006", "warn": "#9C5700"}
GEOMETRY_HEADER = "图形位置（代表点 经度, 纬度）"


class Styles:
    """Cell formats, made once per workbook: text (`@`) always, quote prefix for text a
    spreadsheet would take for a formula, a fill for failing cells."""

    def __init__(self, wb: Any) -> None:
        self.wb = wb
        self._cache: dict[tuple[str | None, bool, bool], Any] = {}
        self.head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1,
                                   "text_wrap": True, "valign": "top", "num_format": "@"})
        self.title = wb.add_format({"bold": True, "font_size": 13, "num_format": "@"})
        self.wrap = wb.add_format({"text_wrap": True, "valign": "top", "num_format": "@"})

    def cell(self, severity: str | None = None, formula_like: bool = False,
             wrap: bool = False) -> Any:
        key = (severity, formula_like, wrap)
        if key not in self._cache:
            props: dict[str, Any] = {"num_format": "@", "valign": "top", "text_wrap": wrap}
            if severity:
                props.update(bg_color=FILL[severity], font_color=FONT[severity], border=1)
            if formula_like:
                props["quote_prefix"] = True
            self._cache[key] = self.wb.add_format(props)
        return self._cache[key]

    def write(self, ws: Any, r: int, c: int, text: str, severity: str | None = None,
              wrap: bool = False) -> None:
        """Always a string cell (never a formula or a number), exact as given."""
        text = clip(text)
        ws.write_string(r, c, text, self.cell(severity, is_formula_like(text), wrap))


@dataclass(frozen=True)
class Failure:
    source_row: int
    rule: str
    severity: str
    field: str
    reason: str
    fix: str
    value: str = ""  # the failing value as the failure recorded it (never personal data)

    @property
    def text(self) -> str:
        return f"【{rule_name(self.rule)}｜{SEVERITY_ZH.get(self.severity, self.severity)}】" \
               f"{self.reason}\n修改建议：{self.fix}"


def reason_text(message: Any, rule: str, field: str, ctx: HintContext,
                rule_message_zh: Mapping[str, str]) -> str:
    """The failure's own message without its `[rule]` prefix; the rule's text if it has none."""
    text = str(message) if isinstance(message, str) and message else ""
    prefix = f"[{rule}] "
    if text.startswith(prefix):
        text = text[len(prefix):]
    if not text:
        spec = ctx.spec(field)
        text = rule_message_zh.get(rule, rule).format(field=field_label(spec) if spec else field)
    return text


def failures_of(table: pd.DataFrame, ctx: HintContext, rule_message_zh: Mapping[str, str]
                ) -> list[Failure]:
    out = []
    for rec in table.to_dict(orient="records"):
        rule, field = str(rec["rule"]), str(rec.get("field") or "")
        spec = ctx.spec(field)
        value = "" if spec is None or spec.pii else value_text(rec.get("value"))
        out.append(Failure(int(rec["source_row"]), rule, str(rec["severity"]), field,
                           reason_text(rec.get("message"), rule, field, ctx, rule_message_zh),
                           hint(rec, ctx), value))
    return out


def _target_columns(field: str, ctx: HintContext, columns: Mapping[str, int]) -> list[int]:
    """The sheet columns a failure is about: its field(s), or where the geometry is shown."""
    coords = ctx.contract.coordinates
    codes = [c for c in field.replace("≤", ",").split(",") if c]
    if field == "geometry":
        codes = [coords.lon, coords.lat] if coords else [GEOMETRY_HEADER]
    return [columns[c] for c in codes if c in columns]


def _geometry_text(geom: Any) -> str:
    if geom is None or getattr(geom, "is_empty", True):
        return ""
    p = geom if geom.geom_type == "Point" else geom.representative_point()
    return f"{p.x:.6f}, {p.y:.6f}"


def rows_sheet(ws: Any, styles: Styles, title: str, failures: Sequence[Failure],
               ctx: HintContext, total_rows: int | None = None) -> int:
    """Write one sheet of bad rows; returns the number of rows written. `total_rows`: how
    many bad rows there are in all, when `failures` holds only the first of them."""
    contract, numbering = ctx.contract, ctx.numbering
    key = identifying_field(contract)
    polygon = contract.geometry == "MultiPolygon"
    header = [*numbering.columns, f"编号：{key.label}（{key.code}）" if key else "编号", "问题",
              "原因与修改建议", *(f"{f.label}\n{f.code}" for f in contract.fields)]
    header += [GEOMETRY_HEADER] if polygon else []
    first_field = len(numbering.columns) + 3
    reason_col = first_field - 1
    columns = {f.code: first_field + i for i, f in enumerate(contract.fields)}
    if polygon:
        columns[GEOMETRY_HEADER] = len(header) - 1
    ws.write_string(0, 0, title, styles.title)
    by_row: dict[int, list[Failure]] = {}
    for f in failures:
        by_row.setdefault(f.source_row, []).append(f)
    cut = ""
    if total_rows is not None and total_rows > len(by_row):
        cut = (f"共 {total_rows} 条记录有问题，本表只列出前 {len(by_row)} 条；全部记录见同一答复中的 "
               "rejections.csv（可用 Excel/WPS 打开）。问题相同的记录请按「汇总」表一并修改。")
    ws.write_string(1, 0, cut + numbering.describe() + "各值按所报送的原样以文本显示（个人信息已"
                    "脱敏）；标红的单元格导致隔离，标黄的导致标记，批注中有原因。", styles.wrap)
    for c, h in enumerate(header):
        ws.write_string(2, c, h, styles.head)
    comments = 0
    for r, (source_row, found) in enumerate(sorted(by_row.items()), start=3):
        row = ctx.row(source_row)
        texts = row_texts(contract, row)
        for f in found:  # what the frame lost (a value that was not of its type) the failure kept
            spec = ctx.spec(f.field)
            if spec and not spec.pii and not texts[spec.code] and f.value:
                texts[spec.code] = f.value
        cells = [*numbering.cells(source_row), texts.get(key.code, "") if key else "",
                 "、".join(dict.fromkeys(rule_name(f.rule) for f in found)),
                 "\n".join(f"{i}. {f.text}" for i, f in enumerate(found, start=1)),
                 *(texts[f.code] for f in contract.fields)]
        cells += [_geometry_text(row.get("geometry") if row else None)] if polygon else []
        marks: dict[int, list[Failure]] = {}
        for f in found:
            for c in _target_columns(f.field, ctx, columns):
                marks.setdefault(c, []).append(f)
        for c, text in enumerate(cells):
            hits = marks.get(c, [])
            worst = "fail" if any(f.severity == "fail" for f in hits) else \
                ("warn" if hits else None)
            if text or worst:  # an empty cell takes its column's text format
                styles.write(ws, r, c, text, worst, wrap=c == reason_col)
            if hits and comments < COMMENT_LIMIT:
                ws.write_comment(r, c, "\n".join(f.text for f in hits)[:32000],
                                 {"author": "yitu", "x_scale": 3, "y_scale": 2.5})
                comments += 1
    ws.set_column(0, len(numbering.columns) - 1, 9)
    ws.set_column(len(numbering.columns), len(numbering.columns) + 1, 22)
    ws.set_column(len(numbering.columns) + 2, len(numbering.columns) + 2, 70)
    ws.set_column(first_field, len(header) - 1, 16, styles.cell())
    ws.set_row(1, 48)
    ws.freeze_panes(3, len(numbering.columns) + 1)
    if by_row:
        ws.autofilter(2, 0, 2 + len(by_row), len(header) - 1)
    else:
        ws.write_string(3, 0, "无", styles.wrap)
    return len(by_row)
