"""A fault of this machine is never answered to a department as a bad file."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from pipelines.contracts import load_contract
from pipelines.read import formats
from pipelines.read.errors import FileRejected


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "complaints.csv"
    path.write_text("GDBH,SLSJ\nA1,2026-11-01 09:00:00\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("fault", [OSError(errno.ENOSPC, "No space left on device"),
                                   OSError(errno.EMFILE, "Too many open files"),
                                   PermissionError(errno.EACCES, "Permission denied"),
                                   MemoryError()])
def test_machine_faults_fail_the_task(csv_file: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch,
                                      fault: BaseException) -> None:
    def broken(*args: object) -> None:
        raise fault

    monkeypatch.setattr(formats, "_open", broken)
    with pytest.raises(type(fault)):
        formats.open_delivery(csv_file, load_contract("complaints"), tmp_path / "work")


def test_a_reader_choking_on_the_file_is_an_answer(csv_file: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def choking(*args: object) -> None:
        raise ValueError("malformed record 7")

    monkeypatch.setattr(formats, "_open", choking)
    with pytest.raises(FileRejected) as err:
        formats.open_delivery(csv_file, load_contract("complaints"), tmp_path / "work")
    assert err.value.rule == "unreadable" and "malformed record 7" in str(err.value)
