"""The sample deliveries (seed 42, scale 1) through read, validate and load on both warehouses:
exact quarantine and flag counts by rule, where they are stored, and what `yitu status` says.

Every number below is what `pipelines/sample` plants, one problem per row (`plant.RowPicker`),
`share(n, f)` = max(1, round(n * f)) rows of n:
- farmland_pbf, 600 parcels (`sample/farmland.py`): corner loops share(600, .012) = 7
  geometry_valid; unknown DLBM share(600, .015) = 9 domain; share(600, .01) = 6 repeated keys;
  broken ID check digits share(600, .015) = 9; stated areas off by 25-80 % share(600, .02) = 12;
  5 parcels given the nearest county's code: county_location (warn, integration publishes
  them as county_mismatch).
- farmland_hsf, 81 project polygons (`sample/hsf.py`): bow ties share(81, .025) = 2, unknown
  JSZT share(81, .025) = 2.
- licenses, 800 licences (`sample/registers.py`): unknown XZQDM share(800, .015) = 12;
  lon/lat swapped or 0,0 share(800, .015) = 12 (outside the region, and in no county, so no
  county_location warning as well); every licence of entities whose USCC check character
  was broken, until share(800, .02) = 16 rows.
- complaints, 2000 work orders (`sample/complaints.py`): unknown XZQDM share(2000, .015) = 30;
  closed or first contacted before dispatch share(2000, .02) = 40 (one failure each: the date
  chain is one expectation); USCC warnings share(2000, .01) = 20; broken caller ID check
  digits share(2000, .015) = 30.
- admin_divisions: the 24 county polygons, all clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from pipelines.runner import ingest, warehouse

FAIL = "fail"
WARN = "warn"
EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    "admin_divisions": {FAIL: {}, WARN: {}},
    "farmland_pbf": {
        FAIL: {"geometry_valid": 7, "domain": 9, "key_unique": 6},
        WARN: {"id_card_check": 9, "area_agrees": 12, "county_location": 5},
    },
    "farmland_hsf": {FAIL: {"geometry_valid": 2, "domain": 2}, WARN: {}},
    "licenses": {FAIL: {"domain": 12, "geometry_in_region": 12}, WARN: {"uscc_check": 16}},
    "complaints": {FAIL: {"domain": 30, "dates_in_order": 40},
                   WARN: {"uscc_check": 20, "id_card_check": 30}},
}
ROWS = {"admin_divisions": 24, "farmland_pbf": 600, "farmland_hsf": 81, "licenses": 800,
        "complaints": 2000}
MASKED_ID = r"^\d{6}\*{8}[\dX]{4}$"


def _drop(sample_dir: Path, datasets: set[str] | None = None) -> None:
    manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
    for f in manifest["files"]:
        if datasets is None or f["dataset"] in datasets:
            drop_file(settings(), sample_dir / f["file"], f["dataset"])


def _status() -> list[dict]:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", "status", "--json"],
                          capture_output=True, text=True, check=True, env=os.environ.copy())
    drops: list[dict] = json.loads(proc.stdout)  # type: ignore[type-arg]
    return drops


def test_quarantine_counts_by_rule(home: Path, sample_dir: Path) -> None:
    _drop(sample_dir)
    ingest(settings())
    wh = warehouse(settings())
    stored = wh.read_table(f"SELECT drop_id, dataset, source_row, field, rule, severity, "
                           f"message, value FROM {wh.tables.quarantine.fullname}")
    status = {d["dataset"]: d for d in _status()}
    assert set(status) == set(EXPECTED)

    for dataset, expected in EXPECTED.items():
        d = status[dataset]
        mine = stored[stored["dataset"] == dataset]
        assert set(mine["drop_id"]) <= {d["drop_id"]}
        for severity in (FAIL, WARN):
            rows = mine[mine["severity"] == severity]
            by_rule = rows.groupby("rule")["source_row"].nunique().to_dict()
            assert by_rule == expected[severity], (dataset, severity)
            # one stored failure per row and rule: no rule reports a row twice
            assert len(rows) == sum(expected[severity].values()), (dataset, severity)
        quarantined = sum(expected[FAIL].values())
        flagged = sum(expected[WARN].values())
        assert (d["state"], d["rows_read"], d["rows_quarantined"], d["rows_flagged"],
                d["rows_loaded"]) == ("loaded", ROWS[dataset], quarantined, flagged,
                                      ROWS[dataset] - quarantined)
        assert d["notes"]["rows_by_rule"] == {s: n for s, n in expected.items() if n}
        assert "skipped_checks" not in d["notes"]  # admin_divisions was there to check against

    # What a department reads: row, field, rule and the offending value, masked where personal.
    ids = stored[stored["rule"] == "id_card_check"]
    assert set(ids["field"]) == {"ZRRZJHM", "LDRZJHM"}
    assert ids["value"].str.fullmatch(MASKED_ID).all()
    dates = stored[stored["rule"] == "dates_in_order"]
    assert set(dates["field"]) == {"PDSJ≤SCLXSJ", "PDSJ≤BJSJ"}  # what the generator broke
    assert dates["value"].str.startswith("PDSJ=").all()
    mismatch = stored[stored["rule"] == "county_location"]
    assert mismatch["message"].str.startswith("[county_location] 行政区划代码 XZQDM").all()
    assert mismatch["value"].str.fullmatch(r"46\d{4}").all()


def test_county_location_is_skipped_not_passed_without_admin_divisions(
        yitu_env: Path, sample_dir: Path) -> None:
    _drop(sample_dir, {"farmland_pbf"})
    ingest(settings())
    [d] = _status()
    assert d["state"] == "loaded"
    assert [s["rule"] for s in d["notes"]["skipped_checks"]] == ["county_location"]
    assert "admin_divisions" in d["notes"]["skipped_checks"][0]["reason"]
    assert "county_location" not in d["notes"]["rows_by_rule"][WARN]
    assert d["rows_flagged"] == 9 + 12  # the 5 county mismatches were not checked

