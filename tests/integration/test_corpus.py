"""The drop corpus through the real pipeline, on both warehouses.

Every file under tests/corpus/files/ is dropped the way `yitu drop` does it and the whole lot
is ingested in two runs per warehouse (first deliveries, then resends); each case must come to what
tests/corpus/expected.yml says, every answer must name file, row, field and rule (Chinese
with the English rule id), personal data must be nowhere in clear, and nothing may be
written outside the drop's own folders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy import select

from pipelines import pii
from pipelines.config import settings
from pipelines.contracts import DATASETS, load_contract
from pipelines.landing.drops import drop_file
from pipelines.runner import ingest, warehouse
from pipelines.runner.drops import pii_key
from pipelines.warehouse import Warehouse
from pipelines.warehouse.ledger import DropRecord, list_drops
from tests.conftest import ROOT, WAREHOUSES, fresh_database, set_yitu_env
from tests.corpus.make_corpus import ABSOLUTE_MEMBER

CORPUS = ROOT / "tests" / "corpus"
EXPECTED: dict[str, dict[str, Any]] = yaml.safe_load(
    (CORPUS / "expected.yml").read_text(encoding="utf-8"))
DROPS = [(case, i) for case, spec in EXPECTED.items() for i in range(len(spec["drops"]))]
CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class CorpusRun:
    base: Path  # the test's own folder: YITU_HOME is base/home
    home: Path
    wh: Warehouse
    drops: dict[tuple[str, int], DropRecord]  # (case, drop index) -> ledger row
    key: bytes


@pytest.fixture(scope="module", params=WAREHOUSES)
def corpus(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorpusRun]:
    """The whole corpus ingested on one warehouse, shared by this module's checks."""
    base = tmp_path_factory.mktemp(f"corpus-{request.param}")
    home = base / "home"
    with pytest.MonkeyPatch.context() as mp, ExitStack() as stack:
        url = None
        if request.param == "postgis":
            url = stack.enter_context(fresh_database(request.getfixturevalue("postgis_server")))
        set_yitu_env(mp, home, url)
        drops: dict[tuple[str, int], DropRecord] = {}
        # First deliveries, then what came later (a corrected resend, the same file again):
        # within one landing scan the order is the file names'.
        for later in (False, True):
            landed: dict[str, tuple[str, int]] = {}  # names are unique within one scan
            for case, i in DROPS:
                if (i > 0) == later:
                    spec = EXPECTED[case]
                    source = CORPUS / "files" / case / spec["drops"][i]["file"]
                    landed[drop_file(settings(), source, spec["dataset"]).name] = (case, i)
            ingest(settings())
            seen = {r.drop_id for r in drops.values()}
            for r in list_drops(warehouse(settings())):
                if r.drop_id not in seen:
                    drops[landed[r.notes.get("landed_as", r.file)]] = r
        yield CorpusRun(base, home, warehouse(settings()), drops, pii_key(settings()))


def test_every_file_is_in_the_corpus_and_expected() -> None:
    on_disk = {(p.parent.name, p.name) for p in (CORPUS / "files").glob("*/*")}
    listed = {(case, d["file"]) for case, spec in EXPECTED.items() for d in spec["drops"]}
    assert on_disk == listed


def _report(run: CorpusRun, rec: DropRecord) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    folder = run.home / "quarantine" / rec.dataset / rec.drop_id
    errors = json.loads((folder / "rejections.json").read_text("utf-8"))["errors"]
    table = pd.read_csv(folder / "rejections.csv", encoding="utf-8-sig", dtype=str)
    return errors, table


def _contains(actual: Any, expected: Any, where: str) -> None:
    """`expected` is a subset of `actual`; a string is contained in the recorded text."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not a mapping"
        for k, v in expected.items():
            assert k in actual, f"{where}: no {k!r} in {sorted(actual)}"
            _contains(actual[k], v, f"{where}.{k}")
    elif isinstance(expected, str):
        assert expected in str(actual), f"{where}: {expected!r} not in {actual!r}"
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected), where
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


def _core_rows(run: CorpusRun, rec: DropRecord) -> pd.DataFrame:
    current = run.wh.read_current(load_contract(rec.dataset))
    mine = current[current["_drop_id"] == rec.drop_id]
    return pd.DataFrame(mine.sort_values("_source_row").drop(columns=mine.geometry.name))


def _quarantined_records(run: CorpusRun, rec: DropRecord) -> str:
    q = run.wh.tables.quarantine
    with run.wh.engine.connect() as conn:
        stored = conn.execute(select(q).where(q.c.drop_id == rec.drop_id)).all()
    return json.dumps([list(r) for r in stored], ensure_ascii=False, default=str)


@pytest.mark.parametrize(("case", "index"), DROPS, ids=[f"{c}-{i}" for c, i in DROPS])
def test_corpus_case(corpus: CorpusRun, case: str, index: int) -> None:
    spec = EXPECTED[case]
    want = spec["drops"][index]
    rec = corpus.drops[(case, index)]
    assert rec.dataset == spec["dataset"]
    assert rec.state == want["state"], rec.errors[:3]
    for count in ("rows_read", "rows_loaded"):
        if count in want:
            assert getattr(rec, count) == want[count], count

    if "rejected" in want:
        reason, expected = rec.errors[0], want["rejected"]
        assert reason["rule"] == expected["rule"]
        assert reason["message"].startswith(f"[{expected['rule']}] ") and CJK.search(
            reason["message"])
        for key in ("field", "row"):
            if key in expected:
                assert reason.get(key) == expected[key], key
        for word in expected.get("words", []):
            assert word in reason["message"], (word, reason["message"])
    else:
        assert all(e["scope"] != "file" for e in rec.errors), rec.errors[:1]  # rows' reasons

    if rec.state != "duplicate":
        errors, table = _report(corpus, rec)
        by_rule: dict[str, set[int]] = {}
        for e in errors:
            if e["scope"] != "file":  # a row's reason; whole-file reasons come first
                by_rule.setdefault(e["rule"], set()).add(int(e["row"]))
        if "row_failures" in want:
            assert {r: sorted(rows) for r, rows in by_rule.items()} == want["row_failures"]
        for rule, words in want.get("row_words", {}).items():
            messages = [e["message"] for e in errors if e["rule"] == rule]
            assert all(any(w in m for m in messages) for w in words), (words, messages)
        if "rejected" in want:
            assert errors[0]["rule"] == want["rejected"]["rule"]  # the report leads with it

    if "notes" in want:
        _contains(rec.notes, want["notes"], "notes")

    if "values" in want or "tokens" in want:
        core = _core_rows(corpus, rec)
        for column, values in want.get("values", {}).items():
            assert core[column].tolist() == values, column
        for column, clean in want.get("tokens", {}).items():
            kind = load_contract(rec.dataset).field(column.upper()).pii
            assert kind is not None
            assert core[f"{column}_token"].tolist() == [pii.token(v, kind, corpus.key)
                                                        for v in clean], column

    if "clear_text" in want:
        stored = _core_rows(corpus, rec).to_json(force_ascii=False)
        stored += _quarantined_records(corpus, rec)
        folder = corpus.home / "quarantine" / rec.dataset / rec.drop_id
        stored += "".join(p.read_text("utf-8-sig") for p in folder.iterdir())
        for value in want["clear_text"]:
            assert value not in stored, value


def test_every_answer_names_file_row_field_and_rule(corpus: CorpusRun) -> None:
    """What the department gets back: a CSV for Excel and a JSON, one line per reason."""
    for (case, _), rec in corpus.drops.items():
        if rec.state == "duplicate":
            assert rec.errors[0]["rule"] == "duplicate"
            continue
        errors, table = _report(corpus, rec)
        assert len(table) == len(errors), case
        if rec.state == "rejected":
            assert len(errors) >= 1, case
        assert (table["文件 file"] == rec.file).all(), case
        for e, line in zip(errors, table.itertuples(index=False), strict=True):
            rule = e["rule"]
            assert line[3] == rule and e["message"].startswith(f"[{rule}] "), case
            assert CJK.search(e["message"]), (case, e)
            if e["scope"] != "file":  # a row's reason: which row, which field
                assert int(line[1]) == e["row"] and line[2] == e["field"] and e["field"], case


def test_nothing_is_written_outside_the_drops_own_folders(corpus: CorpusRun) -> None:
    assert [p.name for p in corpus.base.iterdir()] == ["home"]
    assert not Path(ABSOLUTE_MEMBER).parent.exists()
    ids = {r.drop_id for r in corpus.drops.values()}
    allowed = [
        re.compile(r"raw/(?P<ds>\w+)/\d{4}-\d\d-\d\d/(?P<id>[^/]+?)__[^/]+"),
        re.compile(r"quarantine/(?P<ds>\w+)/(?P<id>[^/]+)/(rejections\.(csv|json)|answer\.xlsx)"),
        re.compile(r"reports/validations/(?P<ds>\w+)/(?P<id>[^/]+)\.json"),
        re.compile(r"\.?warehouse\.gpkg(-wal|-shm|\.lock)?"),
        re.compile(r"locks/task_yitu\.[\w.]+\.lock"),  # the runner's named locks (GeoPackage)
    ]
    for path in corpus.home.rglob("*"):
        if path.is_dir():
            continue
        rel = path.relative_to(corpus.home).as_posix()
        match = next((m for p in allowed if (m := p.fullmatch(rel))), None)
        assert match is not None, f"unexpected file {rel}"
        if "id" in match.groupdict():
            assert match["id"] in ids and match["ds"] in DATASETS, rel
    assert not any((corpus.home / "landing").rglob("*.*")), "landing not emptied"
    assert not any((corpus.home / "work").rglob("*")) if (corpus.home / "work").exists() else True


def test_every_file_stays_in_raw_as_received(corpus: CorpusRun) -> None:
    for (case, i), rec in corpus.drops.items():
        source = CORPUS / "files" / case / EXPECTED[case]["drops"][i]["file"]
        assert Path(rec.raw_path).read_bytes() == source.read_bytes(), case


def test_hostile_names_reached_no_sql(corpus: CorpusRun) -> None:
    """Layer and column names such as `x"; DROP TABLE gpkg_contents; --` were names only:
    every table is still there and holds what the run put in."""
    t = corpus.wh.tables
    drops = corpus.wh.read_table(f"SELECT count(*) AS n FROM {t.drops.fullname}")
    assert int(drops["n"].iloc[0]) == len(DROPS)
    quarantined = corpus.wh.read_table(f"SELECT count(*) AS n FROM {t.quarantine.fullname}")
    assert int(quarantined["n"].iloc[0]) > 0
    for dataset in DATASETS:
        loaded = sum(r.rows_loaded or 0 for r in corpus.drops.values() if r.dataset == dataset
                     and r.state == "loaded")
        assert len(corpus.wh.read_current(load_contract(dataset))) <= loaded
        assert loaded > 0, dataset
