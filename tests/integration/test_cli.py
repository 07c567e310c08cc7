"""The fixed command line, as a department and an analyst use it (embedded warehouse)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pyogrio
import pytest

COMMANDS = ["sample", "drop", "run", "status", "export", "report", "template", "init", "portal",
            "accounts"]


def yitu(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True,
                          text=True, check=check, env=os.environ.copy())


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    out = yitu(command, "--help").stdout
    assert out.startswith(f"usage: yitu {command}")


def test_drop_run_status_export(yitu_env: Path, sample_dir: Path, tmp_path: Path) -> None:
    # A bad file and a good one: the department gets an answer for each.
    bad = tmp_path / "licenses.csv"
    pd.DataFrame({"ZTMC": ["甲公司"], "XZQDM": ["460105"]}).to_csv(bad, index=False)
    yitu("drop", str(bad), "--dataset", "licenses")
    for name, dataset in (("admin_divisions.gpkg", "admin_divisions"),
                          ("farmland_hsf.gpkg", "farmland_hsf")):
        yitu("drop", str(sample_dir / name), "--dataset", dataset)
    # a file copied in by hand, without marker, is not read while it may still be written
    landing = yitu_env / "landing" / "farmland_pbf"
    landing.mkdir(parents=True)
    (landing / "half-written.zip").write_bytes(b"PK")

    run = yitu("-v", "run")
    assert run.returncode == 0  # rejections are answers, not pipeline failures
    # --verbose: each stage of each drop, not the libraries' chatter
    assert "validate took" in run.stderr and "load took" in run.stderr
    assert "great_expectations" not in run.stderr, run.stderr[:2000]
    status = json.loads(yitu("status", "--json").stdout)
    assert len(status) == 3
    for d in status:
        assert {"drop_id", "dataset", "file", "sha256", "state", "rows_read", "rows_loaded",
                "rows_quarantined", "errors"} <= set(d)
    rejected = next(d for d in status if d["file"] == "licenses.csv")
    assert rejected["state"] == "rejected"
    assert rejected["errors"][0]["rule"] == "missing_columns"
    assert "TYSHXYDM" in rejected["errors"][0]["message"]
    report = yitu_env / "quarantine" / "licenses" / rejected["drop_id"] / "rejections.csv"
    assert "missing_columns" in report.read_text(encoding="utf-8-sig")
    # the clerk's workbook beside it: the whole-file reason on its summary sheet
    workbook = openpyxl.load_workbook(report.with_name("answer.xlsx"), read_only=True)
    summary = " ".join(str(c) for row in workbook["汇总"].iter_rows(values_only=True)
                       for c in row if c is not None)
    assert "TYSHXYDM" in summary and "licenses.csv" in summary
    hsf = next(d for d in status if d["dataset"] == "farmland_hsf")
    assert hsf["rows_quarantined"] > 0
    answer = yitu_env / "quarantine" / "farmland_hsf" / hsf["drop_id"] / "answer.xlsx"
    quarantined = openpyxl.load_workbook(answer, read_only=True)["隔离"]
    assert sum(1 for _ in quarantined.iter_rows()) > hsf["rows_quarantined"]
    assert (landing / "half-written.zip").exists()
    # the plain listing answers the clerk too: why, which rules, where the full list is
    listing = yitu("status").stdout
    block = listing[listing.index(rejected["drop_id"]):]
    assert "[missing_columns]" in block and "TYSHXYDM" in block
    assert f"rejection report: {report}" in block
    hsf = next(d for d in status if d["dataset"] == "farmland_hsf")
    quarantined = hsf["notes"]["rows_by_rule"]["fail"]
    assert quarantined  # the sample plants bad project boundaries
    assert "quarantined by rule: " + ", ".join(
        f"{rule}={n}" for rule, n in sorted(quarantined.items())) in listing
    assert {d["state"] for d in status if d["dataset"] != "licenses"} == {"loaded"}

    # every received file is kept, read-only
    raw = list((yitu_env / "raw").rglob("*__*"))
    assert len(raw) == 3
    assert all(p.stat().st_mode & 0o222 == 0 for p in raw)

    # the published GeoPackage opens cleanly in GDAL's own client (what QGIS uses)
    info = subprocess.run(["ogrinfo", "-so", "-q", str(yitu_env / "publish.gpkg")],
                          capture_output=True, text=True, check=True)
    assert "farmland_base_map (Multi Polygon)" in info.stdout
    assert "region_summary (Multi Polygon)" in info.stdout
    assert "Warning" not in info.stderr

    # the analyst's exports
    for suffix in (".gpkg", ".geojson", ".parquet", ".csv"):
        out = tmp_path / f"base{suffix}"
        yitu("export", "farmland_base_map", "-o", str(out))
        assert out.stat().st_size > 0
    exported = pyogrio.read_dataframe(tmp_path / "base.gpkg")
    assert len(exported) > 0 and exported.crs.to_epsg() == 4490
    wrong = yitu("export", "nope", "-o", str(tmp_path / "x.gpkg"), check=False)
    assert wrong.returncode == 2 and "unknown layer 'nope'" in wrong.stderr


def test_drop_is_a_copy_without_the_warehouse_imports(yitu_env: Path, sample_dir: Path) -> None:
    # `yitu drop` copies a file into landing: pandas and SQLAlchemy (most of its 0.8 s)
    # are not imported for that
    code = ("import sys; from pipelines.cli import main; "
            f"rc = main(['drop', {str(sample_dir / 'farmland_hsf.gpkg')!r}, "
            "'--dataset', 'farmland_hsf']); "
            "print(rc, sorted(m for m in ('pandas', 'sqlalchemy', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=os.environ.copy()).stdout
    assert out.splitlines()[-1] == "0 []", out
    assert (yitu_env / "landing" / "farmland_hsf" / "farmland_hsf.gpkg").exists()


def test_a_short_pii_key_is_a_usage_error(yitu_env: Path, sample_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    yitu("drop", str(sample_dir / "licenses.xlsx"), "--dataset", "licenses")
    monkeypatch.setenv("YITU_PII_KEY", "short")
    run = yitu("run", check=False)
    assert run.returncode == 2, run.stderr[-2000:]
    assert "YITU_PII_KEY is too short" in run.stderr and "Traceback" not in run.stderr


def test_stable_file_without_marker_is_picked_up(yitu_env: Path, sample_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    landing = yitu_env / "landing" / "admin_divisions"
    landing.mkdir(parents=True)
    target = landing / "xzq.gpkg"
    target.write_bytes((sample_dir / "admin_divisions.gpkg").read_bytes())
    old = time.time() - 3600
    os.utime(target, (old, old))
    yitu("run")
    status = json.loads(yitu("status", "--json").stdout)
    assert [(d["file"], d["state"]) for d in status] == [("xzq.gpkg", "loaded")]


def test_report_writes_a_front_page_and_the_validation_results(yitu_env: Path,
                                                              sample_dir: Path) -> None:
    yitu("drop", str(sample_dir / "licenses.xlsx"), "--dataset", "licenses")
    yitu("run")
    out = yitu("report").stdout
    index = yitu_env / "reports" / "index.html"
    assert str(index) in out
    assert "证照" in index.read_text("utf-8")
    # the validation results, rendered by yitu in Chinese (no Data Docs fetching a CDN)
    page = (yitu_env / "reports" / "dataset-licenses.html").read_text("utf-8")
    assert "uscc_check" in page and "统一社会信用代码校验位错误" in page


def test_template_and_init(yitu_env: Path, tmp_path: Path) -> None:
    out = tmp_path / "证照模板.xlsx"
    assert "template for licenses" in yitu("template", "licenses", "-o", str(out)).stdout
    sheet = openpyxl.load_workbook(out)["证照"] if "证照" in openpyxl.load_workbook(
        out).sheetnames else openpyxl.load_workbook(out).worksheets[0]
    codes = [c.value for c in sheet[3]]
    assert "TYSHXYDM" in codes and "XZQDM" in codes
    assert yitu("template", "nonsense", "-o", str(out), check=False).returncode == 2
    assert "warehouse ready" in yitu("init").stdout
    assert (yitu_env / "warehouse.gpkg").exists()
