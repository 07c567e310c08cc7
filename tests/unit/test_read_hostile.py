"""The hostile corpus (tests/hostile/) through the reader: every file is answered as
tests/hostile/expected.yml says, in Chinese, naming the file as sent, with no path, traceback or
library text, and the child that parses it stays under the memory ceiling.

The peak resident memory of each file's parsing child is printed as a table at the end
(`pytest -s` or the captured output of test_peak_memory_table)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.contracts import load_contract, load_region
from pipelines.read.conform import conform
from pipelines.read.errors import FileRejected
from pipelines.read.formats import open_delivery
from pipelines.read.limits import Budget
from pipelines.validate.run import validate_frame
from tests.hostile.make_hostile import CASES, FILES, write_case, write_hostile

EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (FILES.parent / "expected.yml").read_text(encoding="utf-8"))
KEY = b"hostile-test-key-0123456789abcdef"
DROP_ID = "{dataset}-20261101T090000000000-deadbeef"
CEILING_MB = 1536
BUDGET = Budget(memory_mb=CEILING_MB, seconds=300, query_seconds=2)
# What no reason may ever show a department: server paths, tracebacks, library names and
# their English messages, engineers' advice, the archive's name for the file.
NEVER = ["Traceback", "/tmp", "/work", "/root", "/var", "SHAPE_RESTORE_SHX", "field larger",
         "Error", "error", "Exception", "errno", "pyarrow", "openpyxl", "calamine", "sqlite3",
         "pyogrio", "CSV parse", "Expected", "deadbeef", "__"]
ENGLISH_SENTENCE = re.compile(r"[A-Za-z]{2,}(?:[ ,:;]+[A-Za-z]{2,}){3,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
VALIDATED = {"csv_nul_byte", "xlsx_nul_escape_in_cell", "geojson_lone_surrogate", "csv_formulas"}
PEAKS: dict[str, tuple[str, float | None]] = {}


def _dropped(name: str, tmp_path: Path) -> Path:
    """The case's file as the archive keeps it: `<drop id>__<name as sent>`."""
    case = CASES[name]
    source = write_case(name, tmp_path / "gen") if case.large else FILES / name / case.file
    target = tmp_path / f"{DROP_ID.format(dataset=case.dataset)}__{case.file}"
    shutil.copyfile(source, target)
    return target


def check_reason(err: FileRejected, spec: dict[str, Any]) -> None:
    """The reason as expected, and nothing in it a department must not see (the file is
    named as sent: the archive's drop-id prefix is among NEVER)."""
    message = err.message
    assert CJK.search(message), message
    assert not ENGLISH_SENTENCE.search(message), message
    for word in NEVER + spec.get("not_words", []):
        assert str(word) not in message, f"{word!r} in {message!r}"
    assert err.rule == spec["rule"], (err.rule, message, err.detail)
    for word in spec.get("words", []):
        assert str(word) in message, f"{word!r} not in {message!r}"
    for key in ("row", "field"):
        if key in spec:
            assert getattr(err, key) == spec[key], (key, getattr(err, key), message)


def test_every_case_is_expected() -> None:
    assert sorted(EXPECTED) == sorted(CASES)
    assert len(CASES) >= 40


def test_checked_in_files_match_the_generator(tmp_path: Path) -> None:
    write_hostile(tmp_path / "files")
    fresh = {p.relative_to(tmp_path / "files").as_posix(): p.read_bytes()
             for p in sorted((tmp_path / "files").rglob("*")) if p.is_file()}
    checked_in = {p.relative_to(FILES).as_posix(): p.read_bytes()
                  for p in sorted(FILES.rglob("*")) if p.is_file()}
    assert sorted(fresh) == sorted(checked_in)
    drifted = [n for n in fresh if fresh[n] != checked_in[n]]
    assert not drifted, f"regenerate with python -m tests.hostile.make_hostile: {drifted}"
    assert sum(len(b) for b in checked_in.values()) < 1024**2


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_file_gets_a_clean_answer(name: str, tmp_path: Path) -> None:
    spec, case = EXPECTED[name], CASES[name]
    path = _dropped(name, tmp_path)
    contract = load_contract(case.dataset)
    raw = None
    try:
        raw = open_delivery(path, contract, tmp_path / "work", budget=BUDGET)
        conformed = conform(raw, contract, load_region(), KEY)
    except FileRejected as err:
        PEAKS[name] = ("rejected", err.peak_rss_mb if raw is None else raw.peak_rss_mb)
        assert spec["state"] == "rejected", (err.rule, err.message, err.detail)
        check_reason(err, spec)
        return
    PEAKS[name] = ("loaded", raw.peak_rss_mb)
    assert spec["state"] == "loaded", f"loaded, expected {spec.get('rule')}"
    assert len(conformed.frame) == spec["rows"]
    failures = conformed.failures.groupby("rule")["source_row"].apply(sorted).to_dict()
    assert failures == spec.get("row_failures", {})
    for message in conformed.failures["message"]:
        assert CJK.search(message) and not any(w in message for w in NEVER), message
    if name in VALIDATED:  # what the reader let through must not break validation either
        outcome = validate_frame(contract, conformed.frame, clear_ids=conformed.clear_ids)
        assert outcome is not None
    assert raw.peak_rss_mb is not None and raw.peak_rss_mb < CEILING_MB


def test_peak_memory_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Runs after the cases (file order): one line per file, the largest peak last."""
    lines = [f"{'case':38} {'answer':9} {'peak RSS of the parsing child':>30}"]
    for name, (state, peak) in sorted(PEAKS.items(), key=lambda kv: kv[1][1] or 0):
        shown = f"{peak:.0f} MB" if peak is not None else "- (refused before parsing)"
        lines.append(f"{name:38} {state:9} {shown:>30}")
    peaks = [p for _, p in PEAKS.values() if p is not None]
    lines.append(f"{len(PEAKS)} files, {len(peaks)} parsed in a child, max peak "
                 f"{max(peaks, default=0):.0f} MB (ceiling {CEILING_MB} MB)")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(p < CEILING_MB for p in peaks)
