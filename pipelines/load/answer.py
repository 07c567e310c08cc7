"""The department's answer to a drop, as files in `quarantine/<dataset>/<drop>/`: the answer
workbook a clerk works from (answer.xlsx: each failing cell and how to fix it), the same
reasons for machines (rejections.csv, rejections.json), and the validation result kept for
the quality report."""

from __future__ import annotations

import json
from itertools import chain
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from pipelines.config import Settings
from pipelines.contracts import Contract, load_region
from pipelines.load.workbook import write_rejection_workbook
from pipelines.reasons import CSV_COLUMNS, Reason, file_reasons
from pipelines.validate.codes import uscc_check_char
from pipelines.validate.suite import RULE_MESSAGE_ZH, RULE_SEVERITY
from pipelines.warehouse.ledger import DropRecord

WORKBOOK = "answer.xlsx"
REPORT_FILES = (WORKBOOK, "rejections.csv", "rejections.json")


def answer_folder(quarantine: Path, dataset: str, drop_id: str) -> Path:
    """Where a drop's answer lies under `quarantine/`: the one place that knows the layout."""
    return quarantine / dataset / drop_id


def row_reasons(failures: pd.DataFrame, contract: Contract) -> list[Reason]:
    """The failures table (one row per source row, rule and field) as reasons."""
    codes = {f.code for f in contract.fields}
    return [Reason("cell" if r.field in codes else "row", str(r.rule), str(r.message),
                   severity=r.severity, field=None if pd.isna(r.field) else str(r.field),
                   row=int(r.source_row),
                   value=None if r.value is None or pd.isna(r.value) else str(r.value))
            for r in failures.itertuples()]


# Failure lines turned into reasons at a time when writing rejections.csv/.json: a file
# rejected whole may have a million failing cells, and their reasons held at once (objects,
# dicts and the JSON text) cost several times the failures table itself.
CHUNK = 50_000


def write_rejection_report(settings: Settings, rec: DropRecord, failures: pd.DataFrame,
                           contract: Contract, frame: pd.DataFrame | None = None,
                           counties: gpd.GeoDataFrame | None = None) -> Path:
    """What the department gets back: CSV for Excel (UTF-8 with BOM) and JSON. Whole-file
    reasons (too many bad rows, unreadable) first, then every row's reasons."""
    folder = answer_folder(settings.quarantine, rec.dataset, rec.drop_id)
    folder.mkdir(parents=True, exist_ok=True)
    whole = file_reasons(rec.errors)
    # one chunk of reasons at a time, each written to both files
    reasons_in_chunks = chain([whole], (row_reasons(failures.iloc[i:i + CHUNK], contract)
                                        for i in range(0, len(failures), CHUNK)))
    summary = {k: v for k, v in rec.as_status().items() if k != "errors"}
    summary["dataset_title"] = contract.title
    head = json.dumps(summary, ensure_ascii=False, indent=2, default=str)
    with (folder / "rejections.csv").open("w", encoding="utf-8-sig", newline="") as csv, \
            (folder / "rejections.json").open("w", encoding="utf-8") as out:
        out.write(head[:-2] + ',\n  "errors": [')  # the summary's closing "\n}" comes last
        sep = "\n    "
        for i, reasons in enumerate(reasons_in_chunks):
            table = pd.DataFrame([r.csv_row(rec.file) for r in reasons], columns=CSV_COLUMNS)
            table["行 row"] = table["行 row"].astype("Int64")  # 12, not 12.0
            table.to_csv(csv, index=False, header=i == 0)
            for r in reasons:
                out.write(sep + json.dumps(r.as_dict(), ensure_ascii=False, default=str))
                sep = ",\n    "
        out.write("\n  ]\n}")
    if rec.state in ("rejected", "failed") or rec.rows_quarantined or rec.rows_flagged:
        write_rejection_workbook(
            folder / WORKBOOK, contract=contract, region=load_region(), drop=rec.as_status(),
            file_reasons=[r.as_dict() for r in whole], failures=failures,
            frame=frame, rule_severity=RULE_SEVERITY, rule_message_zh=RULE_MESSAGE_ZH,
            counties=counties, uscc_check_char=uscc_check_char)
    return folder


def keep_validation_result(settings: Settings, rec: DropRecord, result: dict[str, Any]) -> None:
    folder = settings.reports / "validations" / rec.dataset
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{rec.drop_id}.json").write_text(
        json.dumps(result, ensure_ascii=False, default=str), encoding="utf-8")
