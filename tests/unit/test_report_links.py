"""Report links: relative inside YITU_HOME (the folder copies whole), absolute outside it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pipelines.report.links import Linker
from pipelines.warehouse.ledger import DropRecord


def _drop() -> DropRecord:
    return DropRecord(drop_id="licenses-1", dataset="licenses", file="f.xlsx", sha256="0",
                      size_bytes=1, raw_path="r", received_at=datetime.now(UTC))


def test_rejection_reports_inside_home_are_relative(tmp_path: Path) -> None:
    folder = tmp_path / "quarantine" / "licenses" / "licenses-1"
    folder.mkdir(parents=True)
    (folder / "rejections.csv").write_text("x")
    linker = Linker(tmp_path / "reports", tmp_path, tmp_path / "quarantine")
    assert linker.rejection_reports(_drop()) == [
        ("rejections.csv", "../quarantine/licenses/licenses-1/rejections.csv")]


def test_a_report_outside_home_links_by_absolute_file_url(tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = home / "quarantine" / "a b.csv"
    linker = Linker(tmp_path / "elsewhere", home, home / "quarantine")
    assert linker.href(target) == target.resolve().as_uri()
    assert Linker(home / "reports", home, home / "quarantine").href(target) \
        == "../quarantine/a%20b.csv"
