"""The report's failing rows on both warehouses: for each drop, rule and field, the first
SAMPLES_PER_RULE quarantined rows by source row, whatever order they were stored in, with
a rule over several fields found under "*" too; ranked from the quarantine's own index,
which a warehouse set up before that index existed gets at its next setup."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import insert, inspect, text

from pipelines.config import settings
from pipelines.contracts import all_contracts
from pipelines.report.rules import ANY_FIELD, SAMPLES_PER_RULE, failing_samples
from pipelines.runner import init, warehouse
from pipelines.warehouse import Warehouse


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
