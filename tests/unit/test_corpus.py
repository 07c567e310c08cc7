"""The checked-in drop corpus is exactly what its generator writes, and every case has an
expected outcome (tests/integration/test_corpus.py holds the pipeline to it)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.corpus.make_corpus import CASES, FILES, write_corpus

EXPECTED = yaml.safe_load((FILES.parent / "expected.yml").read_text(encoding="utf-8"))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_checked_in_files_match_the_generator(tmp_path: Path) -> None:
    # Byte for byte: GDAL comes with pyogrio's wheel (locked), and every clock is pinned.
    write_corpus(tmp_path / "files")
    fresh, checked_in = _files(tmp_path / "files"), _files(FILES)
    assert sorted(fresh) == sorted(checked_in)
    drifted = [name for name in fresh if fresh[name] != checked_in[name]]
    assert not drifted, f"regenerate with python -m tests.corpus.make_corpus: {drifted}"


def test_every_case_has_an_expected_outcome_and_dataset() -> None:
    assert sorted(EXPECTED) == sorted(CASES)
    for name, (dataset, _) in CASES.items():
        assert EXPECTED[name]["dataset"] == dataset, name
        assert EXPECTED[name]["what"], name


def test_corpus_stays_small() -> None:
    assert sum(len(b) for b in _files(FILES).values()) < 1.5 * 1024**2
