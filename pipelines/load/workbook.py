"""The answer a department gets for one drop, as an Excel workbook a clerk can work from.

Sheets: 汇总 (what happened to the file, counts per rule, whole-file reasons, what to do
next), 隔离 (rows not loaded) and 标记 (rows loaded with a warning): each bad row with the
department's own key and row number, its values as text, the failing cells highlighted and
commented with a Chinese reason and a fix.

Everything yitu-internal comes in as arguments (rule severities and messages, the failures
table, the conformed frame, county polygons, the GB 32100 check-character function), so this
module depends on nothing but the contracts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xlsxwriter
from shapely.geometry.base import BaseGeometry

from pipelines.contracts import Contract, Region
from pipelines.landing.field_rules import SEVERITY_ZH, field_label, rule_name
from pipelines.load.workbook_hints import GENERIC_HINT, HintContext, file_hint
from pipelines.load.workbook_rows import (
    RowNumbering,
    read_feature_ids,
    row_numbering,
)
from pipelines.load.workbook_sheets import SHEET_ROW_LIMIT, Styles, failures_of, rows_sheet

log = logging.getLogger(__name__)
ROW_ID_COLUMN = "_source_row"
FAILURE_COLUMNS = ("source_row", "field", "rule", "severity", "message", "value")
SUMMARY_SHEET, QUARANTINE_SHEET, FLAGGED_SHEET = "汇总", "隔离", "标记"
STATE_ZH: dict[str, str] = {"loaded": "已入库", "rejected": "整个文件退回", "pending": "待处理",
                            "duplicate": "重复报送（与已处理的文件相同）"}


def _counties(counties: Any) -> dict[str, BaseGeometry] | None:
    """County polygons as code -> polygon, from a (Geo)DataFrame (`county_code`, geometry)
    or a mapping."""
    if counties is None:
        return None
    if isinstance(counties, Mapping):
        return dict(counties)
    geoms = counties.geometry.values
    return dict(zip(counties["county_code"].astype(str), geoms, strict=True))


def _numbering(drop: Mapping[str, Any]) -> RowNumbering:
    """The convention for the drop's file; a GeoPackage's or GeoJSON's own FIDs are read from
    the landed file (`raw_path`) when it is still there."""
    notes = drop.get("notes") or {}
    ids: dict[int, int] = {}
    raw = drop.get("raw_path")
    if raw and Path(str(raw)).is_file():
        try:
            ids = read_feature_ids(Path(str(raw)), notes.get("layer"))
        except Exception:  # FIDs are a convenience: derived from positions when unreadable
            log.warning("%s: feature ids not readable; derived from positions", raw,
                        exc_info=True)
    return row_numbering(str(drop.get("file") or raw or ""), notes, ids)


def _failures(failures: pd.DataFrame | None, rule_severity: Mapping[str, str]) -> pd.DataFrame:
    if failures is None or failures.empty:
        return pd.DataFrame(columns=list(FAILURE_COLUMNS))
    table = failures.copy()
    for col in FAILURE_COLUMNS:
        if col not in table.columns:
            table[col] = None
    table = table[table["source_row"].notna()].copy()
    table["source_row"] = table["source_row"].astype(int)
    known = table["severity"].where(table["severity"].isin(list(SEVERITY_ZH)))
    table["severity"] = known.fillna(table["rule"].map(dict(rule_severity))).fillna("fail")
    return table.sort_values(["source_row"], kind="stable")


def _next_steps(contract: Contract, state: str, quarantined: int, flagged: int,
                rejected_whole: bool) -> list[str]:
    if rejected_whole:
        return ["整个文件退回，本次报送的记录一条也没有入库。",
                "请按下方「整个文件退回的原因」修改" + ("，并按「隔离」工作表逐条改正" if quarantined
                                                  else "") + "后，重新报送整个文件。"]
    steps = []
    if quarantined:
        again = ("随完整文件重新报送（本数据集每次报送完整数据）" if contract.delivery == "snapshot"
                 else "单独重新报送这些记录")
        steps.append(f"「{QUARANTINE_SHEET}」工作表中的 {quarantined} 条记录未入库：请按原因逐条修改后"
                     f"{again}。")
    if flagged:
        steps.append(f"「{FLAGGED_SHEET}」工作表中的 {flagged} 条记录已入库但被标记：请核实；确有错误的请在"
                     "下次报送时更正。")
    if state == "loaded" and not steps:
        steps.append("全部记录已入库，无需处理。")
    return steps


def _kv(ws: Any, styles: Styles, row: int, pairs: Sequence[tuple[str, str]]) -> int:
    for r, (k, v) in enumerate(pairs, start=row):
        ws.write_string(r, 0, k, styles.head)
        styles.write(ws, r, 1, v, wrap=True)
    return row + len(pairs) + 1


def _table(ws: Any, styles: Styles, row: int, title: str, header: Sequence[str],
           rows: Sequence[Sequence[str]]) -> int:
    ws.write_string(row, 0, title, styles.title)
    for c, h in enumerate(header):
        ws.write_string(row + 1, c, h, styles.head)
    for r, values in enumerate(rows, start=row + 2):
        for c, v in enumerate(values):
            if v:
                styles.write(ws, r, c, v, wrap=True)
    return row + len(rows) + 3


def _rule_rows(table: pd.DataFrame, contract: Contract, numbering: RowNumbering,
               rule_message_zh: Mapping[str, str]) -> list[list[str]]:
    """One line per (rule, severity) over every failure, including rows past the sheets' limit."""
    rows = []
    codes = {x.code for x in contract.fields}
    for (rule, severity), items in sorted(table.groupby(["rule", "severity"], sort=False),
                                          key=lambda kv: (kv[0][1], kv[0][0])):
        rule, severity = str(rule), str(severity)
        source_rows = np.unique(items["source_row"].to_numpy(dtype=np.int64))
        fields = sorted({str(f) for f in items["field"].dropna() if f})
        labels = [field_label(contract.field(c)) if c in codes else c for c in fields]
        generic = rule_message_zh.get(rule, rule).replace("{field}", "、".join(fields) or "")
        examples = "、".join(numbering.cells(int(r))[0] for r in source_rows[:10])
        rows.append([rule_name(rule), rule, SEVERITY_ZH.get(severity, severity),
                     str(len(source_rows)), "、".join(labels), generic,
                     GENERIC_HINT.get(rule, "请按原因修改"),
                     examples + ("…" if len(source_rows) > 10 else "")])
    return rows


def _row_sets(table: pd.DataFrame) -> tuple[set[int], set[int]]:
    """(quarantined rows, flagged rows): a row failing any rule is quarantined, not flagged."""
    fail = set(table.loc[table["severity"] == "fail", "source_row"].astype(int))
    warn = set(table.loc[table["severity"] == "warn", "source_row"].astype(int))
    return fail, warn - fail


def _summary(ws: Any, styles: Styles, contract: Contract, drop: Mapping[str, Any],
             numbering: RowNumbering, file_reasons: Sequence[Mapping[str, Any]],
             table: pd.DataFrame, quarantined: int, flagged: int,
             rule_message_zh: Mapping[str, str]) -> None:
    state = str(drop.get("state") or "")
    rejected_whole = state == "rejected" or bool(file_reasons)

    def count(key: str) -> str:
        v = drop.get(key)
        return "" if v is None else str(v)

    ws.write_string(0, 0, f"{contract.title}报送答复", styles.title)
    row = _kv(ws, styles, 2, [
        ("文件", str(drop.get("file") or "")), ("批次号", str(drop.get("drop_id") or "")),
        ("数据集", f"{contract.title}（{contract.dataset}）"), ("报送单位", contract.department),
        ("接收时间", str(drop.get("received_at") or "")),
        ("处理时间", str(drop.get("processed_at") or "")),
        ("处理结果", STATE_ZH.get(state, state)), ("读取记录数", count("rows_read")),
        ("入库记录数", count("rows_loaded")), ("隔离记录数（未入库）", str(quarantined)),
        ("标记记录数（已入库）", str(flagged)),
        ("整个文件退回的阈值", f"被隔离的记录超过 {contract.reject_threshold:.0%}"),
        ("行号说明", numbering.describe())])
    ws.write_string(row, 0, "下一步", styles.title)
    steps = _next_steps(contract, state, quarantined, flagged, rejected_whole)
    for r, line in enumerate(steps, start=row + 1):
        ws.write_string(r, 0, line, styles.wrap)
    row += len(steps) + 2
    if file_reasons:
        reasons = []
        for e in file_reasons:
            rule = str(e.get("rule", ""))
            message = str(e.get("message", ""))
            message = message.removeprefix(f"[{rule}] ")
            where = "" if e.get("row") is None else str(e.get("row"))
            reasons.append([rule_name(rule), rule, message, where, str(e.get("field") or ""),
                            file_hint(e, contract)])
        row = _table(ws, styles, row, "整个文件退回的原因",
                     ["问题", "规则代码", "原因", "行", "字段", "修改建议"], reasons)
    rows = _rule_rows(table, contract, numbering, rule_message_zh)
    _table(ws, styles, row, "按规则统计（每条记录按规则各计一次）",
           ["问题", "规则代码", "处理", "记录数", "字段", "说明", "修改建议",
            f"{numbering.columns[0]}（前 10 个）"], rows or [["无", "", "", "0", "", "", "", ""]])
    for c, width in enumerate((24, 18, 48, 10, 24, 48, 48, 30)):
        ws.set_column(c, c, width)


def write_rejection_workbook(
    out: Path, *, contract: Contract, region: Region, drop: Mapping[str, Any],
    file_reasons: Sequence[Mapping[str, Any]], failures: pd.DataFrame | None,
    frame: pd.DataFrame | None, rule_severity: Mapping[str, str],
    rule_message_zh: Mapping[str, str], numbering: RowNumbering | None = None,
    counties: Any = None, uscc_check_char: Callable[[str], str] | None = None,
    sheet_row_limit: int = SHEET_ROW_LIMIT,
) -> Path:
    """Write the answer workbook for one drop to `out` and return `out`.

    drop: `file` (its suffix decides the row-number convention unless `numbering` is
    given), `drop_id`, `state`, `rows_read`, `rows_loaded`, `received_at`, `processed_at`,
    `notes` (the reader's, for the header row), all optional but `file`.
    file_reasons: whole-file reasons (`rule`, `message`, optional `row`, `field`).
    failures: one row per failing (row, rule, field): source_row, field, rule, severity,
    message, value. frame: the conformed frame with `_source_row` (personal fields only as
    `<field>_token` and `<field>_masked`), or None when the file was rejected unread.
    counties: county polygons in EPSG:4490 (`county_code` and geometry, or code -> polygon),
    used to name where swapped coordinates land and where a feature lies.
    uscc_check_char: GB 32100 check character of the first 17 characters.
    sheet_row_limit: bad rows listed per sheet (the summary counts all of them)."""
    numbering = numbering or _numbering(drop)
    rows = None
    if frame is not None:
        rows = pd.DataFrame(frame).set_index(frame[ROW_ID_COLUMN].astype(int).to_numpy())
    ctx = HintContext(contract, region, rows, numbering, _counties(counties), uscc_check_char)
    table = _failures(failures, rule_severity)
    fail_rows, warn_rows = _row_sets(table)
    # The sheets list the first rows up to the limit each; the summary counts every failure.
    shown = set(sorted(fail_rows)[:sheet_row_limit]) | set(sorted(warn_rows)[:sheet_row_limit])
    table_shown = table[table["source_row"].isin(shown)]
    ctx.prefetch(table_shown["source_row"])
    found = failures_of(table_shown, ctx, rule_message_zh)
    out.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(out), {"strings_to_numbers": False, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    try:
        wb.set_properties({"title": f"{contract.title}报送答复", "author": "yitu",
                           "subject": str(drop.get("drop_id") or "")})
        styles = Styles(wb)
        _summary(wb.add_worksheet(SUMMARY_SHEET), styles, contract, drop, numbering,
                 file_reasons, table, len(fail_rows), len(warn_rows), rule_message_zh)
        whole = "文件已整体退回，" if str(drop.get("state")) == "rejected" else ""
        quarantined = [f for f in found if f.source_row in fail_rows]
        flagged = [f for f in found if f.source_row not in fail_rows]
        rows_sheet(wb.add_worksheet(QUARANTINE_SHEET), styles,
                   f"隔离：以下记录未入库（{whole}请按原因修改后重新报送）", quarantined, ctx,
                   total_rows=len(fail_rows))
        loaded = "以下记录未入库（文件已整体退回），另有下列需核实的问题" if whole \
            else "以下记录已入库并标记，请核实"
        rows_sheet(wb.add_worksheet(FLAGGED_SHEET), styles, f"标记：{loaded}", flagged, ctx,
                   total_rows=len(warn_rows))
    finally:
        wb.close()
    return out
