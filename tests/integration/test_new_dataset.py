"""Adding a dataset is adding its contract: a sixth, throwaway dataset, declared in a copy of
schemas/ and nowhere else, is dropped, read, validated, quarantined and loaded end to end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WELLS = """\
dataset: irrigation_wells
title: 农田机井
title_en: Irrigation wells
department: 水务局
geometry: Point
coordinates: {lon: JD, lat: WD}
key: JJBH
cadence: yearly
delivery: snapshot
reject_threshold: 0.5
county_field: XZQDM
fields:
  - {code: JJBH, label: 机井编号, type: string, required: true, pattern: '^JJ\\d{4}$'}
  - {code: XZQDM, label: 行政区划代码, type: string, required: true, domain_ref: county_codes}
  - {code: JSND, label: 建设年度, type: integer, range: {min: 1950, max: 2030}}
  - {code: JD, label: 经度, type: number, required: true}
  - {code: WD, label: 纬度, type: number, required: true}
"""
# five wells in 秀英区 (460105); one with a bad number, one built in the future
ROWS = [("JJ0001", "460105", 2001, 110.29, 20.01), ("JJ0002", "460105", 2010, 110.28, 20.00),
        ("JJ0003", "460105", 2020, 110.30, 20.02), ("BAD-04", "460105", 2015, 110.29, 20.00),
        ("JJ0005", "460105", 2099, 110.27, 20.01)]


def _yitu(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("warehouse", ["gpkg", "postgis"])
def test_a_sixth_dataset_from_its_contract_alone(warehouse: str, tmp_path: Path,
                                                 sample_dir: Path,
                                                 request: pytest.FixtureRequest) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(ROOT / "schemas", schemas)
    (schemas / "irrigation_wells.yml").write_text(WELLS, encoding="utf-8")
    wells = tmp_path / "机井.csv"
    wells.write_text("机井编号,行政区划代码,建设年度,经度,纬度\n" + "".join(
        f"{a},{b},{c},{d},{e}\n" for a, b, c, d, e in ROWS), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YITU_")}
    env.update(YITU_HOME=str(tmp_path / "home"), YITU_SCHEMA_DIR=str(schemas),
               YITU_PII_KEY="test-key-0123456789abcdef", YITU_AS_OF="2026-11-16T12:00:00")
    if warehouse == "postgis":
        env["YITU_WAREHOUSE_URL"] = request.getfixturevalue("postgis_url")
    _yitu(env, "drop", str(sample_dir / "admin_divisions.gpkg"), "--dataset", "admin_divisions")
    _yitu(env, "drop", str(wells), "--dataset", "irrigation_wells")
    out = _yitu(env, "run")
    assert "loaded    irrigation_wells" in out, out
    [drop] = [d for d in json.loads(_yitu(env, "status", "--json"))
              if d["dataset"] == "irrigation_wells"]
    assert (drop["state"], drop["rows_read"], drop["rows_loaded"]) == ("loaded", 5, 3)
    assert drop["notes"]["rows_by_rule"]["fail"] == {"pattern": 1, "range": 1}
    assert not drop["notes"].get("skipped_checks")  # the county check ran too
    report = tmp_path / "home" / "quarantine" / "irrigation_wells" / drop["drop_id"]
    assert "BAD-04" in (report / "rejections.json").read_text("utf-8")
    # in the warehouse, under its own name, with lineage, from its contract alone
    check = ("from pipelines.config import settings\n"
             "from pipelines.contracts import load_contract\n"
             "from pipelines.runner import warehouse\n"
             "rows = warehouse(settings()).read_current(load_contract('irrigation_wells'))\n"
             "print(sorted(rows['jjbh']), sorted(rows['xzqdm'].unique()),"
             " rows.geometry.geom_type.unique().tolist(), rows['_drop_id'].nunique())")
    proc = subprocess.run([sys.executable, "-c", check], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=True)
    assert proc.stdout.strip().splitlines()[-1] == (
        "['JJ0001', 'JJ0002', 'JJ0003'] ['460105'] ['Point'] 1")
