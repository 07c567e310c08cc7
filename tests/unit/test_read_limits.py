"""The reader's limits and the child it parses in: a parse past the memory ceiling or the time
limit, or one that dies, is an answer (or a machine fault), never a dead worker; the byte
scans that measure a file before it is parsed; what a reason may show a department."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.contracts import load_contract
from pipelines.read import isolate, safety, scan
from pipelines.read.delivery import RawDelivery, machine_fault
from pipelines.read.errors import FileRejected, display_name
from pipelines.read.formats import open_delivery
from pipelines.read.limits import Budget, size_zh

SMALL = Budget(memory_mb=400, seconds=20, query_seconds=1)


# -- readers the child runs (module level: the child imports them by name) --------------------
def grows_slowly(_: str) -> RawDelivery:
    """Touches page after page: the parent's watch on resident memory stops it."""
    held = []
    for _ in range(100):
        held.append(np.ones(25 * 1024**2 // 8))  # 25 MB at a time, written
        time.sleep(0.01)
    raise AssertionError("not stopped")


def asks_for_everything(_: str) -> RawDelivery:
    """One allocation far past the ceiling: refused at once by the RLIMIT_DATA backstop."""
    np.empty(50 * 1024**3, dtype=np.uint8)
    raise AssertionError("not stopped")


def never_returns(_: str) -> RawDelivery:
    time.sleep(3600)
    raise AssertionError("not stopped")


def aborts(_: str) -> RawDelivery:
    os.abort()  # what Rust does when an allocation fails


def is_killed(_: str) -> RawDelivery:
    os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does
    raise AssertionError("not killed")


def crashes(_: str) -> RawDelivery:
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("not crashed")


def exits(_: str) -> RawDelivery:
    os._exit(3)  # the child's own start-up failing looks like this


def works_then_reads(arg: str) -> RawDelivery:
    """Half a second of CPU in the child, then a frame."""
    until = time.process_time() + 0.5
    while time.process_time() < until:
        pass
    return reads(arg)


def reads(_: str) -> RawDelivery:
    frame = pd.DataFrame({"A": pd.array(["x", None], dtype=pd.StringDtype("pyarrow")),
                          "B": [1.5, 2.0]})
    return RawDelivery(frame, pd.Series([2, 3]), {"format": "test"})


def _parse(reader: isolate.Reader, tmp_path: Path, budget: Budget = SMALL) -> RawDelivery:
    return isolate.parse(reader, ("x",), tmp_path, budget, "工单.csv")


@pytest.mark.parametrize("reader", [grows_slowly, asks_for_everything])
def test_a_parse_past_the_memory_ceiling_is_too_large(reader: isolate.Reader,
                                                      tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as err:
        _parse(reader, tmp_path)
    assert err.value.rule == "too_large" and "读取内存 400 MB" in err.value.message
    assert "工单.csv" in err.value.message


def test_a_parse_past_the_time_limit_is_too_large(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(FileRejected) as err:
        _parse(never_returns, tmp_path, Budget(memory_mb=400, seconds=2))
    assert err.value.rule == "too_large" and "读取时间 2 秒" in err.value.message
    assert time.monotonic() - started < 30


def test_a_child_aborting_or_crashing_is_an_answer(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as err:
        _parse(aborts, tmp_path)
    assert err.value.rule == "too_large"
    with pytest.raises(FileRejected) as err:
        _parse(crashes, tmp_path)
    assert err.value.rule == "unreadable" and "异常终止" in err.value.message


def test_a_child_killed_by_the_kernel_or_failing_to_start_is_a_machine_fault(
        tmp_path: Path) -> None:
    with pytest.raises(MemoryError):  # formats.machine_fault: the drop stays pending
        _parse(is_killed, tmp_path)
    with pytest.raises(OSError) as err:
        _parse(exits, tmp_path)
    assert machine_fault(err.value)


def test_the_frame_comes_back_from_the_child(tmp_path: Path) -> None:
    raw = _parse(reads, tmp_path)
    assert raw.frame["A"].tolist()[0] == "x" and pd.isna(raw.frame["A"].iloc[1])
    assert raw.frame["B"].tolist() == [1.5, 2.0] and raw.row_numbers.tolist() == [2, 3]
    assert raw.notes == {"format": "test"} and raw.peak_rss_mb and raw.peak_rss_mb < 1536
    assert not list(tmp_path.glob(".read-*"))  # the IPC file is gone


def test_work_beside_a_parse_runs_while_the_child_parses(tmp_path: Path) -> None:
    """`beside_next_parse`: the work runs in a thread of this process while the child
    parses (here the child works half a second: the work sees it alive), is done when the
    parse returns, and runs for that parse only; work that raises does not fail the parse,
    and a parse past the memory ceiling is still stopped while work runs beside it."""
    import threading

    seen: list[tuple[str, bool]] = []

    def beside() -> None:
        time.sleep(0.2)  # the child is under way by now
        children = [p for p in os.listdir("/proc") if p.isdigit()
                    and _parent_of(int(p)) in _forkservers()]
        time.sleep(1.0)  # longer than the parse: the parse waits for it
        seen.append((threading.current_thread().name, bool(children)))

    isolate.beside_next_parse(beside)
    raw = _parse(works_then_reads, tmp_path)
    assert raw.frame["B"].tolist() == [1.5, 2.0]
    assert seen == [("yitu-beside-parse", True)]  # done by now, and while a child parsed
    _parse(reads, tmp_path)
    assert len(seen) == 1  # the next parse runs nothing beside it

    def fails() -> None:
        raise RuntimeError("beside")

    isolate.beside_next_parse(fails)
    assert _parse(reads, tmp_path).frame["B"].tolist() == [1.5, 2.0]

    def slow() -> None:
        time.sleep(1.0)

    isolate.beside_next_parse(slow)
    with pytest.raises(FileRejected) as err:
        _parse(grows_slowly, tmp_path)
    assert err.value.rule == "too_large"


def _parent_of(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _forkservers() -> set[int]:
    """The reading forkservers this process started (its children)."""
    mine = os.getpid()
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _parent_of(int(p)) == mine}


def test_budget_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YITU_READ_MEMORY_MB", "2048")
    monkeypatch.setenv("YITU_READ_SECONDS", "not a number")
    monkeypatch.setenv("YITU_READ_QUERY_SECONDS", "0.5")
    assert Budget.from_env() == Budget(memory_mb=2048, seconds=600, query_seconds=0.5)


# -- what a reason shows ---------------------------------------------------------------------
def test_the_file_is_named_as_sent() -> None:
    assert display_name("/x/raw/complaints-20261101T090000123456-0a1b2c3d__工单__2.csv") \
        == "工单__2.csv"
    assert display_name("plain__name.csv") == "plain__name.csv"


def test_reasons_and_details_are_scrubbed() -> None:
    err = FileRejected("unreadable", "第 3 行 来电人 139-1234-5678 有误", detail="row: 13912345678")
    assert "1234-5678" not in err.message and "139****5678" in err.message
    assert err.detail == "row: 139****5678"


def test_a_path_with_a_long_line_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "complaints-20261101T090000000000-deadbeef__工单.csv"
    path.write_bytes(b"GDBH,GDLX\r\n" + b"A" * (2 * 1024**2) + b",x\r\n")
    with pytest.raises(FileRejected) as err:
        open_delivery(path, load_contract("complaints"), tmp_path / "w", budget=SMALL)
    assert err.value.rule == "too_large" and err.value.row == 2
    assert err.value.message.startswith("工单.csv 第 2 行长 2 MB")


def test_zip_member_count_is_read_from_the_directory(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import zipfile

    monkeypatch.setattr(safety, "ZIP_MAX_MEMBERS", 10)
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(11):
            zf.writestr(f"{i}.txt", b"x")
    with pytest.raises(FileRejected) as err:
        safety.extract_zip(path, tmp_path / "w")
    assert err.value.rule == "too_large" and "11 个文件" in err.value.message
    assert not (tmp_path / "w").exists()


# -- byte scans ------------------------------------------------------------------------------
def test_longest_line_across_chunks() -> None:
    parts = [b"ab\ncd", b"efgh", b"\n\nxyz"]
    assert scan.longest_line(parts) == (2, 6)
    assert scan.longest_line([b"abc"]) == (1, 3)


def test_json_depth_ignores_brackets_in_strings_across_chunks() -> None:
    doc = b'{"a": ["[[[\\"{", {"b": [1, [2]]}], "c": "\\\\"}'
    for cut in range(1, len(doc)):
        assert scan.json_depth([doc[:cut], doc[cut:]]) == 5, cut  # { [ { [ [


def test_sheet_scan_reads_any_way_a_position_is_written() -> None:
    xml = (b'<x:worksheet xmlns:x="m"><x:dimension ref="A1:B3"/><x:sheetData>'
           b'<x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c><x:c r=\'C1\'/></x:row>'
           b'<x:row><x:c\n r = "B7"><x:v>911100006000373412</x:v></x:c><x:c/></x:row>'
           b"</x:sheetData></x:worksheet>")
    found = scan.scan_sheet([xml[:70], xml[70:]], max_cells=100)
    assert found.cells == 4 and found.declared == "A1:B3"
    assert found.rows[0] == 1 and found.rows[1] >= 7
    assert found.columns[0] == 1 and found.columns[1] >= 3


def test_sizes_as_a_clerk_reads_them() -> None:
    assert size_zh(512 * 1024**2) == "512 MB" and size_zh(1.5 * 1024**3) == "1.5 GB"


def test_csv_rows_are_numbered_as_excel_shows_them(tmp_path: Path) -> None:
    """A blank line is a row in Excel/WPS (the parser skips it); a quoted cell spanning lines
    is not: the row numbers in an answer are the ones the clerk sees."""
    contract = load_contract("complaints")
    header = "GDBH,SLSJ,NRMS\r\n"
    files = {
        "blank.csv": (header + "A1,2026-09-01 08:00,x\r\n\r\nA2,2026-09-01 08:00,y\r\n"
                      "\r\n\r\nA3,2026-09-01 08:00,z\r\n", [2, 4, 7]),
        "title.csv": ("\r\n12345 工单导出,,\r\n" + header + "A1,2026-09-01 08:00,x\r\n\r\n"
                      "A2,2026-09-01 08:00,y\r\n", [4, 6]),
        "quoted.csv": (header + 'A1,2026-09-01 08:00,"第一行\n\n第三行"\r\n'
                       "A2,2026-09-01 08:00,y\r\n", [2, 3]),
        "plain.csv": (header + "A1,2026-09-01 08:00,x\r\nA2,2026-09-01 08:00,y\r\n", [2, 3]),
    }
    for name, (text, rows) in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        raw = open_delivery(path, contract, tmp_path / f"work-{name}")
        assert raw.row_numbers.tolist() == rows, name
        assert raw.frame.iloc[:, 0].tolist() == [f"A{i}" for i in range(1, len(rows) + 1)]


def test_a_stage_counts_what_its_reading_child_cost(tmp_path: Path) -> None:
    """The child is the forkserver's, not ours: our rusage never sees it; its own report
    is added, so `yitu status --json` shows what reading really cost."""
    from pipelines.runner.metrics import Stages

    cost = Stages("test")
    with cost.stage("read"):
        _parse(works_then_reads, tmp_path)
    assert cost.record["read"]["cpu_seconds"] >= 0.45
    assert cost.record["read"]["peak_rss_mb"] >= round(isolate.CHILDREN["peak_mb"], 1) > 0


def _parse_in_worker(work: tuple[str, Path]) -> str:
    """In a worker forked by `yitu run --jobs`: the answer a parse gives there."""
    reader, tmp_path = work
    try:
        return f"rows {len(_parse(globals()[reader], tmp_path).frame)}"
    except FileRejected as err:
        return err.rule


def test_forked_workers_still_parse_in_a_bounded_child(tmp_path: Path) -> None:
    """`yitu run --jobs` forks its workers from a process that may have read files already
    (its forkserver started): each worker starts a reading child of its own, so a file that
    would blow up is still stopped by the ceiling there, never parsed in the worker."""
    from pipelines.runner.parallel import forked_map

    assert len(_parse(reads, tmp_path).frame) == 2  # this process's forkserver is running
    work = [("grows_slowly", tmp_path / "a"), ("asks_for_everything", tmp_path / "b"),
            ("reads", tmp_path / "c")]
    assert forked_map(_parse_in_worker, work, jobs=2) == ["too_large", "too_large", "rows 2"]
