"""Write the files derived from the contracts: GX suites, PostGIS DDL, README tables and the
pygeoapi resources.

    python -m pipelines.codegen          # rewrite them
    python -m pipelines.codegen --check  # exit 1 when a committed file has drifted
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.codegen.docs import (
    PYGEOAPI_RESOURCES,
    dataset_table,
    layer_table,
    pygeoapi_resources,
)
from pipelines.contracts import all_contracts, all_layers, load_region
from pipelines.validate.suite import suite_text
from pipelines.warehouse.ddl import core_ddl

ROOT = Path(__file__).resolve().parents[2]
GENERATED = "(generated from schemas/ by python -m pipelines.codegen)"
README_SECTIONS = {"datasets": dataset_table, "layers": layer_table}
PYGEOAPI_CONFIG = ROOT / "deploy" / "pygeoapi" / "pygeoapi-config.yml"


def _between(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- {name}:begin {GENERATED} -->", f"<!-- {name}:end -->"
    if begin not in text or end not in text:
        raise ValueError(f"README.md lacks the markers {begin} … {end}")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def derived_files() -> dict[Path, str]:
    contracts, layers, region = all_contracts(), all_layers(), load_region()
    files: dict[Path, str] = {}
    for c in contracts:
        files[ROOT / "expectations" / f"{c.dataset}.json"] = suite_text(c, region)
        files[ROOT / "sql" / f"core_{c.dataset}.sql"] = core_ddl(c)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = _between(readme, "datasets", dataset_table(contracts))
    files[ROOT / "README.md"] = _between(readme, "layers", layer_table(layers))
    config = PYGEOAPI_CONFIG.read_text(encoding="utf-8")
    head = config.split("\nresources:", 1)[0]
    files[PYGEOAPI_CONFIG] = f"{head}\n{pygeoapi_resources(layers, region)}"
    assert PYGEOAPI_RESOURCES.startswith("resources:")
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
