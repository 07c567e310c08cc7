"""Write the files derived from the contracts: GX suites, PostGIS DDL, README dataset table.

    python -m pipelines.codegen          # rewrite them
    python -m pipelines.codegen --check  # exit 1 when a committed file has drifted
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipelines.contracts import Contract, all_contracts, load_region
from pipelines.validation.suite import build_suite
from pipelines.warehouse.columns import core_columns, geometry_sql

ROOT = Path(__file__).resolve().parent.parent
README_BEGIN = "<!-- datasets:begin (generated from schemas/ by python -m pipelines.codegen) -->"
README_END = "<!-- datasets:end -->"


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def core_ddl(contract: Contract) -> str:
    t = f"core.{contract.dataset}"
    lines = [f"-- Generated from schemas/{contract.dataset}.yml by `python -m pipelines.codegen`;",
             "-- do not edit by hand.",
             f"CREATE TABLE IF NOT EXISTS {t} (",
             "    _version_id bigserial PRIMARY KEY,"]
    for c in core_columns(contract):
        not_null = " NOT NULL" if c.name in ("_drop_id", "_source_row", "_valid_from") else ""
        lines.append(f"    {c.name} {c.sql_type}{not_null},")
    lines.append(f"    geom {geometry_sql(contract)}")
    lines.append(");")
    lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_geom_gist ON {t} USING gist (geom);")
    lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_drop ON {t} (_drop_id);")
    if contract.key_column:
        lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_current ON {t} "
                     f"({contract.key_column}) WHERE _valid_to IS NULL;")
    lines.append(f"COMMENT ON TABLE {t} IS "
                 f"{_sql_literal(f'{contract.title}（{contract.department}）')};")
    for c in core_columns(contract):
        lines.append(f"COMMENT ON COLUMN {t}.{c.name} IS {_sql_literal(c.label)};")
    lines.append(f"COMMENT ON COLUMN {t}.geom IS {_sql_literal('几何（CGCS2000, EPSG:4490）')};")
    return "\n".join(lines) + "\n"


def suite_json(contract: Contract) -> str:
    suite = build_suite(contract, load_region())
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def readme_table(contracts: list[Contract]) -> str:
    rows = ["| dataset | 名称 | from | geometry | key | cadence | delivery | fields |",
            "|---|---|---|---|---|---|---|---|"]
    for c in contracts:
        pii = [f.code for f in c.fields if f.pii]
        fields = ", ".join(f"`{f.code}` {f.label}" for f in c.fields)
        note = f" Personal data (tokenised): {', '.join(pii)}." if pii else ""
        per = f" per {c.snapshot_by}" if c.snapshot_by else ""
        rows.append(f"| `{c.dataset}` | {c.title} | {c.department} | {c.geometry} | "
                    f"{c.key or '—'} | {c.cadence} | {c.delivery}{per} | {fields}.{note} |")
    return "\n".join(rows)


def derived_files() -> dict[Path, str]:
    contracts = all_contracts()
    files: dict[Path, str] = {}
    for c in contracts:
        files[ROOT / "expectations" / f"{c.dataset}.json"] = suite_json(c)
        files[ROOT / "sql" / f"core_{c.dataset}.sql"] = core_ddl(c)
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN in text and README_END in text:
        head, rest = text.split(README_BEGIN, 1)
        _, tail = rest.split(README_END, 1)
        files[readme] = f"{head}{README_BEGIN}\n{readme_table(contracts)}\n{README_END}{tail}"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a derived file drifted")
    args = parser.parse_args(argv)
    drifted = []
    for path, content in derived_files().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        drifted.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    if args.check and drifted:
        print("derived files drifted from schemas/: " + ", ".join(map(str, drifted)),
              file=sys.stderr)
        return 1
    for p in drifted:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
