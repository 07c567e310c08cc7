"""A corrected resend is a new version: the earlier state stays in history and raw/, `yitu
status` says what changed, and permanent basic farmland that shrank is reported per county."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

from pipelines.cli import main
from pipelines.config import settings
from pipelines.contracts import load_contract
from pipelines.geodesy import M2_PER_MU, ellipsoidal_area_m2
from pipelines.landing.drops import drop_file, sha256_of
from pipelines.runner import ingest, status, warehouse
from pipelines.sample.writers import write_shapefile_zip
from pipelines.warehouse import Warehouse
from pipelines.warehouse.ledger import DropRecord
from tests.digests import published_digest

PBF_KEY = "YJJBNTTBBH"


def _core_table(wh: Warehouse, dataset: str) -> str:
    return f"core.{dataset}" if wh.engine.dialect.name == "postgresql" else f"core__{dataset}"


def _load_first(sample_dir: Path, dataset: str) -> DropRecord:
    files = {f["dataset"]: f["file"] for f in _manifest(sample_dir)["files"]}
    for ds in ("admin_divisions", dataset):  # counties first: points are placed on them
        drop_file(settings(), sample_dir / files[ds], ds)
    drops = {d.dataset: d for d in ingest(settings())}
    assert drops[dataset].state == "loaded"
    return drops[dataset]


def _manifest(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "manifest.json").read_text("utf-8"))


def _corrected_pbf(sample_dir: Path, loaded: set[str], out: Path) -> dict[str, list[str]]:
    """The sample delivery resent: 5 parcels of one county gone, 3 of another with a corrected
    GDDB, 2 new parcels in a third. Same format, CRS and encoding as the first file."""
    src = pyogrio.read_dataframe(f"/vsizip/{sample_dir / 'farmland_pbf.zip'}", encoding="GBK")
    # Only parcels that loaded the first time and occur once, so every edit is visible.
    ok = src[src[PBF_KEY].isin(loaded) & ~src[PBF_KEY].duplicated(keep=False)]
    by_county = ok.groupby("XZQDM")[PBF_KEY].apply(list)
    counties = [c for c, ids in by_county.items() if len(ids) >= 5]
    shrinking, corrected, growing = counties[0], counties[1], counties[2]
    removed = by_county[shrinking][:5]
    changed = by_county[corrected][:3]
    out_frame = src[~src[PBF_KEY].isin(removed)].copy()
    fix = out_frame[PBF_KEY].isin(changed)
    out_frame.loc[fix, "GDDB"] = out_frame.loc[fix, "GDDB"] % 15 + 1
    new = ok[ok["XZQDM"] == growing].iloc[:2].copy()
    new[PBF_KEY] = [f"{growing}9999990{i}" for i in (1, 2)]
    new["geometry"] = new.geometry.translate(0, 3000)  # new land, 3 km north of its model
    frame = gpd.GeoDataFrame(pd.concat([out_frame, new], ignore_index=True), crs=src.crs)
    write_shapefile_zip(frame, out, "YJJBNTBHTB", "EPSG:4525", "GBK")
    return {"county": [shrinking], "removed": removed, "changed": changed,
            "added": list(new[PBF_KEY])}


def test_corrected_pbf_resend_shows_changes_and_shrinking_county(
        home: Path, sample_dir: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    contract = load_contract("farmland_pbf")
    first = _load_first(sample_dir, "farmland_pbf")
    wh = warehouse(settings())
    first_state = wh.read_current(contract)
    assert first.notes["changes"]["added"] == first.rows_loaded  # nothing before it

    resend = tmp_path / "farmland_pbf_更正.zip"
    edits = _corrected_pbf(sample_dir, set(first_state["yjjbnttbbh"]), resend)
    drop_file(settings(), resend, "farmland_pbf")
    capsys.readouterr()
    assert main(["run", "--dataset", "farmland_pbf"]) == 0
    [county] = edits["county"]
    run_out = capsys.readouterr().out
    assert f"WARNING 永久基本农田面积减少 {county}" in run_out

    second = status(settings())[-1]
    changes = second.notes["changes"]
    assert (changes["added"], changes["removed"], changes["changed"]) == (2, 5, 3)
    assert changes["unchanged"] == first.rows_loaded - 5 - 3
    assert changes["changed_columns"] == {"gddb": 3}
    assert sorted(changes["examples"]["removed"]) == sorted(edits["removed"])
    assert sorted(changes["examples"]["changed"]) == sorted(edits["changed"])
    assert sorted(changes["examples"]["added"]) == sorted(edits["added"])

    assert main(["status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(second.drop_id))
    assert lines[at + 1].strip() == "changes: +2 −5 ~3"
    assert lines[at + 2].strip().startswith(f"WARNING 永久基本农田面积减少 {county}")
    assert main(["status", "--json"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json[-1]["notes"]["changes"]["removed"] == 5

    # The county lost exactly the removed parcels' ellipsoidal area; no other county shrank.
    dq = wh.read_table(f"SELECT * FROM {wh.tables.pbf_changes.fullname} WHERE drop_id = "
                       f"'{second.drop_id}'").set_index("county_code")
    gone = first_state[first_state["yjjbnttbbh"].isin(edits["removed"])]
    lost_m2 = ellipsoidal_area_m2(gone.geometry).sum()
    assert dq.loc[county, "area_lost_mu"] * M2_PER_MU == pytest.approx(lost_m2, rel=1e-6)
    assert dq.loc[county, "parcels_removed"] == 5
    assert sorted(json.loads(dq.loc[county, "removed_ids"])) == sorted(edits["removed"])
    before_mu = ellipsoidal_area_m2(
        first_state[first_state["xzqdm"] == county].geometry).sum() / M2_PER_MU
    assert dq.loc[county, "area_before_mu"] == pytest.approx(before_mu, rel=1e-9)
    assert list(dq.index[dq["shrunk"].astype(bool)]) == [county]
    assert (dq.drop(index=county)["area_lost_mu"] == 0).all()

    # History: the versions the resend replaced kept and closed, the parcels it stated as
    # they were still the first delivery's versions; the resend wrote only what differs.
    # The first delivery's raw file untouched.
    versions = wh.read_table(f"SELECT _drop_id, COUNT(*) AS n, COUNT(_valid_to) AS closed "
                             f"FROM {_core_table(wh, 'farmland_pbf')} GROUP BY _drop_id "
                             "ORDER BY _drop_id").set_index("_drop_id")
    assert versions.loc[first.drop_id].tolist() == [first.rows_loaded, 5 + 3]
    assert versions.loc[second.drop_id].tolist() == [2 + 3, 0]
    assert Path(first.raw_path).is_file()
    assert sha256_of(Path(first.raw_path)) == sha256_of(sample_dir / "farmland_pbf.zip")
    assert len(wh.read_current(contract)) == first.rows_loaded - 5 + 2

    index = (home / "reports" / "index.html").read_text("utf-8")
    section = index.split("<h2>永久基本农田面积减少</h2>", 1)[1].split("</table>", 1)[0]
    assert county in section and edits["removed"][0] in section

    # The same parcels again (another file: the layer named otherwise; in another order a
    # key sent twice would keep its other copy): nothing is written or closed, no
    # farmland published moves, and the delivery still states every parcel.
    published = published_digest(wh)
    again = tmp_path / "farmland_pbf_再次.zip"
    rows = pyogrio.read_dataframe(f"/vsizip/{resend}", encoding="GBK")
    write_shapefile_zip(rows, again, "YJJBNTBHTB_2", "EPSG:4525", "GBK")
    drop_file(settings(), again, "farmland_pbf")
    assert main(["run", "--dataset", "farmland_pbf"]) == 0
    third = status(settings())[-1]
    assert third.state == "loaded" and third.rows_loaded == second.rows_loaded
    changes = third.notes["changes"]
    assert (changes["added"], changes["removed"], changes["changed"]) == (0, 0, 0)
    assert changes["unchanged"] == third.rows_loaded
    assert sum(third.notes["rows_by_county"].values()) == third.rows_loaded
    assert wh.read_table(f"SELECT COUNT(*) AS n FROM {_core_table(wh, 'farmland_pbf')} "
                         f"WHERE _drop_id = '{third.drop_id}' OR _closed_by = "
                         f"'{third.drop_id}'")["n"].iloc[0] == 0
    farmland = ("farmland_base_map", "farmland_conflicts")  # (the assessment counts it)
    assert {k: published_digest(wh)[k] for k in farmland} == {k: published[k] for k in farmland}


def test_complaints_increment_counts_updated_orders(home: Path, sample_dir: Path,
                                                   tmp_path: Path) -> None:
    first = _load_first(sample_dir, "complaints")
    wh = warehouse(settings())
    loaded = set(wh.read_current(load_contract("complaints"))["gdbh"])
    encoding = next(f["encoding"] for f in _manifest(sample_dir)["files"]
                    if f["dataset"] == "complaints")
    orders = pd.read_csv(sample_dir / "complaints.csv", encoding=encoding, dtype=str,
                         keep_default_na=False)
    key = orders.columns[0]  # ＧＤＢＨ, as the hotline spells it
    ok = orders[key].isin(loaded) & ~orders[key].duplicated(keep=False)
    updated = orders.index[ok & (orders["MYD"] == "满意")][:4]
    orders.loc[updated, "MYD"] = "不满意"  # the callback survey came in after the first file
    new = orders[ok].iloc[:3].copy()
    new[key] = [f"20261199{i:05d}" for i in range(3)]
    resend = tmp_path / "complaints_0921.csv"
    pd.concat([orders, new]).to_csv(resend, index=False, encoding=encoding,
                                    lineterminator="\r\n")
    drop_file(settings(), resend, "complaints")
    [second] = ingest(settings())

    changes = second.notes["changes"]
    assert changes["delivery"] == "increment"
    assert (changes["added"], changes["removed"], changes["changed"]) == (3, 0, 4)
    assert changes["unchanged"] == first.rows_loaded - 4
    assert changes["changed_columns"] == {"myd": 4}
    assert sorted(changes["examples"]["changed"]) == sorted(orders.loc[updated, key])
    # The earlier version of each updated order is kept, closed.
    closed = wh.read_table(f"SELECT gdbh FROM {_core_table(wh, 'complaints')} WHERE _drop_id = "
                           f"'{first.drop_id}' AND _valid_to IS NOT NULL")
    assert len(closed) == first.rows_loaded
    assert np.array_equal(np.sort(closed["gdbh"].unique()), np.sort(list(loaded)))


def test_a_failing_comparison_never_loses_the_load(yitu_env: Path, sample_dir: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.load.changes

    def broken(*args: object) -> None:
        raise RuntimeError("history unreadable")

    monkeypatch.setattr(pipelines.load.changes, "drop_changes", broken)
    rec = _load_first(sample_dir, "farmland_pbf")
    stored = status(settings())[-1]
    assert stored.state == "loaded" and stored.drop_id == rec.drop_id
    assert stored.notes["changes"] == {"error": "RuntimeError: history unreadable"}
    assert "crs" in stored.notes  # what the reader decided is still there
    assert len(warehouse(settings()).read_current(load_contract("farmland_pbf"))) == \
        rec.rows_loaded


def test_the_changes_recorded_later_come_with_the_delivery_profile(
        yitu_env: Path, postgis_url: str, sample_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostGIS `yitu run` records what its loads changed in a process beside the
    integration (`runner._complete_loaded`): the report's profile of each such delivery is
    made there too and kept where the report looks first, equal to the report's own."""
    from pipelines.load import changes_recorded_later
    from pipelines.report.profile import delivery_profile, profiles_dir
    from pipelines.runner import _complete_loaded

    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    files = {f["dataset"]: f["file"] for f in _manifest(sample_dir)["files"]}
    for ds in ("admin_divisions", "farmland_pbf"):
        drop_file(settings(), sample_dir / files[ds], ds)
    with changes_recorded_later():
        drops = {d.dataset: d for d in ingest(settings())}
    rec = status(settings())[-1]
    assert rec.drop_id == drops["farmland_pbf"].drop_id and "changes" not in rec.notes
    kept = profiles_dir(settings().reports) / "farmland_pbf" / f"{rec.drop_id}.json"
    assert not kept.exists()

    _complete_loaded(settings())
    rec = status(settings())[-1]
    assert rec.notes["changes"]["added"] == rec.rows_loaded
    assert kept.is_file()
    made = json.loads(kept.read_text("utf-8"))
    assert made["drop_id"] == rec.drop_id and made["rows"] == rec.rows_loaded
    kept.unlink()  # the report's own, made afresh, is the same
    wh = warehouse(settings())
    assert delivery_profile(wh, load_contract("farmland_pbf"), rec, kept.parent.parent)
    assert json.loads(kept.read_text("utf-8")) == made
