"""A department's file answered as a whole: too many bad rows send it back, nothing loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from sqlalchemy import update

from pipelines.config import settings
from pipelines.contracts import load_contract
from pipelines.landing.drops import drop_file
from pipelines.runner import ingest, warehouse
from pipelines.warehouse import ledger


def test_too_many_bad_rows_reject_the_whole_file(yitu_env: Path, tmp_path: Path) -> None:
    orders = pd.DataFrame({
        "GDBH": [f"G{i}" for i in range(10)], "SLSJ": ["2026-11-02 09:00:00"] * 10,
        "GDLX": ["投诉"] * 7 + ["吐槽"] * 3,  # 30 % unknown codes, above the 20 % threshold
        "XZQDM": ["460105"] * 10,
    })
    path = tmp_path / "complaints.csv"
    orders.to_csv(path, index=False, encoding="gb18030")
    drop_file(settings(), path, "complaints")

    [rec] = ingest(settings())
    assert rec.state == "rejected" and rec.rows_loaded == 0 and rec.rows_quarantined == 3
    assert rec.errors[0]["rule"] == "too_many_bad_rows"
    assert [e["row"] for e in rec.errors[1:]] == [9, 10, 11]  # CSV lines, header is line 1
    wh = warehouse(settings())
    assert len(wh.read_current(load_contract("complaints"))) == 0
    stored = wh.read_table(f"SELECT source_row, rule FROM {wh.tables.quarantine.fullname}")
    assert sorted(stored["source_row"]) == [9, 10, 11]  # kept with their reasons

    folder = yitu_env / "quarantine" / "complaints" / rec.drop_id
    report = json.loads((folder / "rejections.json").read_text("utf-8"))
    assert report["state"] == "rejected"
    assert report["errors"][0]["rule"] == "too_many_bad_rows"
    csv = pd.read_csv(folder / "rejections.csv", encoding="utf-8-sig", dtype=str)
    assert list(csv["规则 rule"]) == ["too_many_bad_rows", "domain", "domain", "domain"]
    assert csv["原因 reason"].str.contains("GDLX（工单类型）").iloc[1]


def test_a_drop_processed_again_leaves_no_duplicates(home: Path, sample_dir: Path) -> None:
    """A retry after a crash between load and ledger (or two workers at once) loads once."""
    drop_file(settings(), sample_dir / "complaints.csv", "complaints")
    [first] = ingest(settings())
    wh = warehouse(settings())

    def counts() -> tuple[int, int]:
        core = len(wh.read_current(load_contract("complaints")))
        dq = wh.read_table(f"SELECT count(*) AS n FROM {wh.tables.quarantine.fullname}")
        return core, int(dq["n"].iloc[0])

    before = counts()
    t = wh.tables.drops
    with wh.engine.begin() as conn:  # as if the ledger update had been lost
        conn.execute(update(t).where(t.c.drop_id == first.drop_id).values(state="pending"))
    [again] = ingest(settings())
    assert again.drop_id == first.drop_id and again.state == "loaded"
    assert counts() == before
    assert before[0] == first.rows_loaded and before[1] > 0


def test_parallel_loads_into_the_embedded_warehouse(yitu_env: Path, sample_dir: Path) -> None:
    """Airflow runs the per-dataset load tasks at once: on one GeoPackage they must queue,
    not fail with 'database is locked' or interleave."""
    import os
    import subprocess
    import sys

    files = {"farmland_pbf": "farmland_pbf.zip", "licenses": "licenses.xlsx",
             "complaints": "complaints.csv", "farmland_hsf": "farmland_hsf.gpkg"}
    for dataset, name in files.items():
        drop_file(settings(), sample_dir / name, dataset)
    procs = [subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run", "--dataset", d],
                              env=os.environ.copy(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for d in files]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
    wh = warehouse(settings())
    states = wh.read_table(f"SELECT dataset, state FROM {wh.tables.drops.fullname}")
    assert dict(zip(states["dataset"], states["state"], strict=True)) == {d: "loaded" for d in files}


def test_a_county_delivery_replaces_that_county_only(home: Path, sample_dir: Path,
                                                     tmp_path: Path) -> None:
    import geopandas as gpd

    drop_file(settings(), sample_dir / "farmland_pbf.zip", "farmland_pbf")
    ingest(settings())
    wh = warehouse(settings())
    pbf = load_contract("farmland_pbf")
    before = wh.read_current(pbf)

    # 秀英区 resends its parcels alone, one parcel fewer, as a GeoPackage in CGCS2000.
    original = gpd.read_file(f"zip://{sample_dir / 'farmland_pbf.zip'}", encoding="GBK")
    county = original[original["XZQDM"] == "460105"].drop_duplicates("YJJBNTTBBH")
    county = county[county.is_valid & county["DLBM"].str.startswith("01")]
    resend = county.iloc[1:].to_crs(4490)
    path = tmp_path / "460105_YJJBNTBHTB.gpkg"
    resend.to_file(path, layer="YJJBNTBHTB")
    drop_file(settings(), path, "farmland_pbf")
    [rec] = ingest(settings())
    assert rec.state == "loaded" and rec.rows_loaded == len(resend)

    after = wh.read_current(pbf)
    others_before = before[before["xzqdm"] != "460105"]
    others_after = after[after["xzqdm"] != "460105"]
    assert sorted(others_after["yjjbnttbbh"]) == sorted(others_before["yjjbnttbbh"])
    # the parcels it states as they were stay the first delivery's versions; the others
    # are its own
    mine = after[after["xzqdm"] == "460105"]
    assert set(mine["_drop_id"]) <= {rec.drop_id, *before["_drop_id"]}
    changes = rec.notes["changes"]
    assert (mine["_drop_id"] == rec.drop_id).sum() == changes["added"] + changes["changed"]
    assert changes["added"] + changes["changed"] + changes["unchanged"] == len(resend)
    assert sorted(after.loc[after["xzqdm"] == "460105", "yjjbnttbbh"]) == \
        sorted(resend["YJJBNTTBBH"])
    assert rec.notes["changes"]["removed"] >= 1


def test_the_answer_files_are_whole_before_the_load_commits(
        home: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The answer files are made beside the load (it waits on the warehouse meanwhile): when
    making them fails (a full disk), nothing of the drop is committed and it waits for the
    next run; when the drop's outcome commits, every file is there and whole."""
    import pipelines.load as load
    from pipelines.load.answer import WORKBOOK

    def full_disk(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    written = load.write_rejection_report
    monkeypatch.setattr(load, "write_rejection_report", full_disk)
    drop_file(settings(), sample_dir / "complaints.csv", "complaints")
    with pytest.raises(OSError, match="No space left"):
        ingest(settings())
    wh = warehouse(settings())
    # no row committed (the embedded warehouse writes the answer files before any row)
    assert len(wh.read_current(load_contract("complaints"))) == 0
    [waiting] = ledger.list_drops(wh, dataset="complaints")
    assert waiting.state == "pending"
    monkeypatch.setattr(load, "write_rejection_report", written)

    seen: dict[str, Any] = {}
    real = load.failpoint

    def at(point: str) -> None:
        if point == "load.before_commit":  # the outcome is about to commit
            folder = home / "quarantine" / "complaints" / waiting.drop_id
            seen["json"] = json.loads((folder / "rejections.json").read_text("utf-8"))
            seen["book"] = openpyxl.load_workbook(folder / WORKBOOK).sheetnames
        real(point)

    monkeypatch.setattr(load, "failpoint", at)
    [answered] = ingest(settings())
    assert answered.drop_id == waiting.drop_id
    assert answered.state == "loaded" and answered.rows_quarantined > 0
    assert seen["json"]["drop_id"] == waiting.drop_id and seen["json"]["state"] == "loaded"
    assert len(seen["book"]) == 3
    assert len(wh.read_current(load_contract("complaints"))) == answered.rows_loaded
