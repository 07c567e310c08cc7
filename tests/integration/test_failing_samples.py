"""The report's failing rows on both warehouses: for each drop, rule and field, the first
SAMPLES_PER_RULE quarantined rows by source row, whatever order they were stored in, with
a rule over several fields found under "*" too; ranked from the quarantine's own index,
which a warehouse set up before that index existed gets at its next setup."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, inspect, text

from pipelines.config import settings
from pipelines.contracts import all_contracts
from pipelines.report.rules import ANY_FIELD, SAMPLES_PER_RULE, failing_samples, kept_samples
from pipelines.runner import init, warehouse
from pipelines.warehouse import Warehouse
from pipelines.warehouse.ledger import DropRecord


def _failures(drop: str, rule: str, field: str | None, rows: list[int]) -> list[dict]:
    return [{"drop_id": drop, "dataset": "licenses", "source_row": r, "field": field,
             "rule": rule, "severity": "fail", "message": f"{rule} at {r}",
             "value": None, "record": json.dumps({"zzbh": f"Z{r}"})} for r in rows]


def _index_names(wh: Warehouse) -> set[str]:
    t = wh.tables.quarantine
    return {ix["name"] for ix in inspect(wh.engine).get_indexes(t.name, schema=t.schema)}


def test_first_rows_of_each_rule_and_field(home: Path) -> None:
    wh = warehouse(settings())
    rows = (_failures("d1", "domain", "ZZLX", [90, 7, 55, 3, 41])
            + _failures("d1", "pattern", "TYSHXYDM", [12, 2])
            + _failures("d1", "date_order", None, [30, 8, 19, 77])
            + _failures("d2", "domain", "ZZLX", [5, 1, 9, 4])
            + _failures("d3", "domain", "ZZLX", [1, 2, 3]))  # a drop not asked for
    with wh.engine.begin() as conn:
        conn.execute(insert(wh.tables.quarantine), rows)
    got = failing_samples(wh, all_contracts(), ["d1", "d2"])
    rows_of = {k: [r.source_row for r in v] for k, v in got.items()}
    assert rows_of[("d1", "domain", "ZZLX")] == [3, 7, 41]
    assert rows_of[("d1", "pattern", "TYSHXYDM")] == [2, 12]
    assert rows_of[("d1", "date_order", "")] == [8, 19, 30]
    assert rows_of[("d2", "domain", "ZZLX")] == [1, 4, 5]
    assert not any(k[0] == "d3" for k in got)
    assert all(len(v) <= SAMPLES_PER_RULE for v in got.values())
    # the rule's rows under any field: the first found, across its fields
    assert rows_of[("d1", "domain", ANY_FIELD)] == [3, 7, 41]
    first = got[("d1", "pattern", "TYSHXYDM")][0]
    assert first.message == "pattern at 2" and first.identifier == "Z2"


def test_a_warehouse_set_up_before_the_index_gets_it(home: Path) -> None:
    wh = warehouse(settings())
    t = wh.tables.quarantine
    name = f"{t.name}_samples"
    assert name in _index_names(wh)
    qualified = f"{t.schema}.{name}" if t.schema else name
    with wh.engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {qualified}"))
    assert name not in _index_names(wh)
    init(settings())  # what an upgrade runs when the setup changed
    assert name in _index_names(wh)


def test_answered_drops_samples_are_kept_until_answered_again(home: Path,
                                                             tmp_path: Path) -> None:
    """An answered drop's samples are read from the warehouse once, then from the file kept
    for it (its quarantined rows do not change), until it is answered again; a drop not yet
    answered is always asked for, and never kept."""
    wh = warehouse(settings())
    with wh.engine.begin() as conn:
        conn.execute(insert(wh.tables.quarantine),
                     _failures("d1", "domain", "ZZLX", [9, 4, 6, 2])
                     + _failures("d1", "date_order", None, [5])
                     + _failures("d2", "pattern", "TYSHXYDM", [3, 1]))
    at = datetime(2026, 11, 16, 9, 30, tzinfo=UTC)
    answered = DropRecord("d1", "licenses", "证照.xlsx", "", 0, "", at, state="loaded",
                          processed_at=at)
    pending = DropRecord("d2", "licenses", "证照2.xlsx", "", 0, "", at)
    folder = tmp_path / "samples"
    contracts = all_contracts()
    first = kept_samples(wh, contracts, [answered, pending], folder)
    assert first == failing_samples(wh, contracts, ["d1", "d2"])
    assert [r.source_row for r in first[("d1", "domain", "ZZLX")]] == [2, 4, 6]
    assert sorted(p.name for p in folder.iterdir()) == ["d1.json"]
    with wh.engine.begin() as conn:  # the warehouse no longer has them: kept ones still show
        conn.execute(text(f"DELETE FROM {wh.tables.quarantine.fullname}"))
    again = kept_samples(wh, contracts, [answered, pending], folder)
    assert again == {k: v for k, v in first.items() if k[0] == "d1"}
    # answered again (retried): asked for again, and kept as now
    retried = replace(answered, processed_at=at + timedelta(hours=1))
    assert kept_samples(wh, contracts, [retried, pending], folder) == {}
    assert kept_samples(wh, contracts, [retried], folder) == {}
