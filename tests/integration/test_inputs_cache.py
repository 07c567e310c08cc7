"""The inputs of an integration run that locates only the rows the published run did not
(`runner.inputs_cache`) equal the inputs read and located whole (`integrate.load_inputs`):
same columns, dtypes and rows, the same fingerprints, after every kind of delivery, on both
warehouses; and only the rows added since are located (all of them when the counties
change, or with --full)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from pipelines import integrate, runner
from pipelines.config import settings
from pipelines.integrate import Inputs
from pipelines.integrate.inputs import (
    COUNTY,
    ENRICHING_ONLY,
    INPUT_ROLES,
    PARCELS_READ,
    ZONE_READ,
)
from pipelines.landing.drops import drop_file
from pipelines.runner import inputs_cache
from pipelines.warehouse import Warehouse
from pipelines.warehouse.postgis import PostgisWarehouse
from pipelines.warehouse.staging import StagingStore, staging_store
from tests.integration.test_incremental import KINDS


def _sorted(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """Rows in one order (a delivery's row is one current version), geometries as WKB."""
    out = pd.DataFrame(frame).sort_values(["_drop_id", "_source_row"]).reset_index(drop=True)
    geom = frame.geometry.name
    out[geom] = [None if g is None else g.wkb for g in out[geom]]
    return out


def _assert_same(cached: Inputs, fresh: Inputs, what: str) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(cached.counties), pd.DataFrame(fresh.counties))
    for name in INPUT_ROLES:
        a, b = getattr(cached, name), getattr(fresh, name)
        assert list(a.columns) == list(b.columns), f"{what}: {name} columns"
        assert a.crs == b.crs and a.geometry.name == b.geometry.name, f"{what}: {name} crs"
        assert isinstance(a.index, pd.RangeIndex), f"{what}: {name} index"
        pd.testing.assert_frame_equal(_sorted(a), _sorted(b), obj=f"{what}: {name}")
    codes = integrate.partitions(fresh)
    assert integrate.partitions(cached) == codes, what
    assert integrate.fingerprints(cached, codes) == integrate.fingerprints(fresh, codes), what


class _Located:
    """How many rows of each frame the cache locates: `locate` is called once per frame, in
    the order of `input_contracts`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rows: list[int] = []
        locate = inputs_cache.locate

        def spy(frame: gpd.GeoDataFrame, counties: gpd.GeoDataFrame,
                stated: str | None = None) -> pd.Series:
            self.rows.append(len(frame))
            return locate(frame, counties, stated)

        monkeypatch.setattr(inputs_cache, "locate", spy)

    def taken(self) -> dict[str, int]:
        names = list(integrate.inputs.input_contracts())
        assert len(self.rows) == len(names), self.rows
        out, self.rows = dict(zip(names, self.rows, strict=True)), []
        return out


def _cached(wh: Warehouse, staging: StagingStore, run_id: str) -> Inputs:
    """A run's inputs from the cache of the published run; then this run is the published.
    What it staged of each licence and order, whether it lies outside its county, is what
    `strays` says of the rows read."""
    inputs = inputs_cache.load_inputs(wh, staging, run_id).inputs
    placed = _placed(wh, staging, run_id)
    for name in inputs_cache.POINTED:
        frame = getattr(inputs, name)
        flags = np.zeros(len(frame), dtype=bool)
        flags[integrate.inputs.strays(frame, inputs.counties)] = True
        assert placed[name][inputs_cache.STRAY].to_numpy(dtype=bool).tolist() == \
            flags.tolist(), (run_id, name)
    staging.mark_published(run_id)
    return inputs


def _placed(wh: Warehouse, staging: StagingStore, run_id: str) -> dict[str, gpd.GeoDataFrame]:
    """What the run staged of where its rows lie: a county for every current row of each
    frame, and no other row (the next run takes it as what the warehouse held)."""
    placed = staging.read(run_id, inputs_cache.LOCATED)
    assert placed is not None
    for name, contract in integrate.inputs.input_contracts().items():
        ids = placed[name][inputs_cache.VERSION]
        assert ids.is_unique, (run_id, name)
        assert sorted(ids) == sorted(wh.read_current_versions(contract, [])[
            inputs_cache.VERSION]), (run_id, name)
    return placed


def _assert_partial(wh: Warehouse, staging: StagingStore, run_id: str, dataset: str) -> None:
    """A read that may leave the farmland unread (`partial`) does so after a delivery of work
    orders only: the licences and orders as a fresh read gives them, no project, and of the
    parcels at least every one a new order's point touches, the new orders marked
    (`PARCELS_READ`), and of the orders located before, all but what only enriching reads
    (`ENRICHING_ONLY`: left missing on PostGIS, never read); the work-order prints from the
    recorded context equal the whole prints. After any other delivery it reads everything."""
    read = inputs_cache.load_inputs(wh, staging, run_id, partial=True)
    _placed(wh, staging, run_id)
    fresh = integrate.load_inputs(wh)
    if dataset in ("farmland_pbf", "farmland_hsf") and isinstance(wh, PostgisWarehouse):
        _assert_zoned(read, fresh)
        return
    if dataset != "complaints":
        assert not read.partial and not read.zones, dataset
        _assert_same(read.inputs, fresh, f"partial after {dataset}")
        return
    got = read.inputs
    assert read.partial and got.farmland_hsf.empty
    assert list(got.farmland_hsf.columns) == list(fresh.farmland_hsf.columns)
    pd.testing.assert_frame_equal(pd.DataFrame(got.counties), pd.DataFrame(fresh.counties))
    pd.testing.assert_frame_equal(_sorted(got.licenses), _sorted(fresh.licenses))
    orders = got.complaints
    new = orders[orders[PARCELS_READ]]
    assert 0 < len(new) < len(orders)
    assert list(orders.drop(columns=[PARCELS_READ]).columns) == list(fresh.complaints.columns)
    enriching = list(ENRICHING_ONLY["complaints"])
    rest = [c for c in fresh.complaints.columns if c not in enriching]
    pd.testing.assert_frame_equal(_sorted(orders[rest + ["geom"]].assign(geom=None)),
                                  _sorted(fresh.complaints[rest + ["geom"]].assign(geom=None)))
    key = ["_drop_id", "_source_row"]
    whole = fresh.complaints.merge(new[key], on=key)  # the new orders: every column
    pd.testing.assert_frame_equal(_sorted(new.drop(columns=[PARCELS_READ])),
                                  _sorted(gpd.GeoDataFrame(whole, geometry="geom", crs=4490)))
    old = orders[~orders[PARCELS_READ]]
    if isinstance(wh, PostgisWarehouse):  # none of it sent
        assert old[enriching].isna().all().all() and old.geometry.isna().all()
    touched = fresh.farmland_pbf.iloc[np.unique(fresh.farmland_pbf.sindex.query(
        new.geometry.values, predicate="intersects")[1])]
    assert set(map(tuple, touched[key].to_numpy())) <= set(
        map(tuple, got.farmland_pbf[key].to_numpy()))
    assert len(got.farmland_pbf) < len(fresh.farmland_pbf)
    # the warehouse's read under points, where every point lies on some parcel
    pbf = fresh.farmland_pbf
    points = pbf.geometry.representative_point().to_numpy()[::7]
    contract = integrate.inputs.input_contracts()["farmland_pbf"]
    under = wh.read_current_at(contract, integrate.inputs.input_columns("farmland_pbf", contract),
                               points)
    touched = pbf.iloc[np.unique(pbf.sindex.query(points, predicate="intersects")[1])]
    assert len(touched) >= len(points) > 0 and len(under) < len(pbf)
    assert set(map(tuple, touched[key].to_numpy())) <= set(map(tuple, under[key].to_numpy()))
    assert under["_version_id"].is_unique
    codes = integrate.partitions(fresh)
    whole = integrate.part_prints(fresh, codes)
    contexts = {k: p.context for k, p in whole.items() if k.endswith("/complaints")}
    assert integrate.orders_prints(got, contexts) == {k: whole[k] for k in contexts}


def _assert_zoned(read: inputs_cache.Read, fresh: Inputs) -> None:
    """One county's parcels or projects sent again (PostGIS): the farmland read for the
    counties whose shares hold a row added or closed, the licences whole, the work orders
    as a day's run reads them but whole where they lie outside their county or in those
    counties; those counties' shares and prints equal the whole read's, and they are marked
    (`ZONE_READ`), their orders too (`PARCELS_READ`); the other counties' shares hold no
    more than their orders' parcels."""
    got = read.inputs
    assert read.partial and 0 < len(read.zones) < len(fresh.counties) / 2, read.zones
    counties = pd.DataFrame(got.counties)
    assert counties[ZONE_READ].tolist() == counties[COUNTY].isin(read.zones).tolist()
    pd.testing.assert_frame_equal(counties.drop(columns=[ZONE_READ]),
                                  pd.DataFrame(fresh.counties))
    pd.testing.assert_frame_equal(_sorted(got.licenses), _sorted(fresh.licenses))
    orders = got.complaints
    assert orders[PARCELS_READ].tolist() == orders[COUNTY].isin(read.zones).tolist()
    enriching = list(ENRICHING_ONLY["complaints"])
    rest = [c for c in fresh.complaints.columns if c not in enriching]
    pd.testing.assert_frame_equal(_sorted(orders[rest + ["geom"]].assign(geom=None)),
                                  _sorted(fresh.complaints[rest + ["geom"]].assign(geom=None)))
    whole = orders[PARCELS_READ].to_numpy().copy()  # the zones' orders, and the strays
    key = ["_drop_id", "_source_row"]
    outside = fresh.complaints.iloc[integrate.inputs.strays(fresh.complaints, fresh.counties)]
    assert len(outside), "the sample holds orders outside their county"
    whole |= pd.MultiIndex.from_frame(orders[key]).isin(pd.MultiIndex.from_frame(outside[key]))
    mine = gpd.GeoDataFrame(fresh.complaints.merge(orders.loc[whole, key], on=key),
                            geometry="geom", crs=4490)
    pd.testing.assert_frame_equal(
        _sorted(orders[whole].drop(columns=[PARCELS_READ])), _sorted(mine))
    left = orders[~whole]
    assert len(left) and left[enriching].isna().all().all()  # none of it sent
    for name in ("farmland_pbf", "farmland_hsf"):
        a, b = getattr(got, name), getattr(fresh, name)
        assert list(a.columns) == list(b.columns) and a.crs == b.crs, name
        assert 0 < len(a) < len(b), name
    codes = list(read.zones)
    whole = integrate.inputs.shares(fresh, codes)
    mine = integrate.inputs.shares(got, codes)
    for code in codes:  # every row of the county's share, as from the whole read
        for name in ("farmland_pbf", "farmland_hsf", "licenses", "complaints"):
            pd.testing.assert_frame_equal(_sorted(getattr(mine[code], name).drop(
                columns=[PARCELS_READ], errors="ignore")),
                                          _sorted(getattr(whole[code], name)),
                                          obj=f"{code} {name}")
    assert integrate.part_prints(got, codes) == integrate.part_prints(fresh, codes)


def _offshore(sample: Path, out: Path) -> Path:
    """Five work orders placed off the coast, outside every county but inside the region's
    extent: each is located by the county it states and lies outside it (`strays`)."""
    rows = pd.read_csv(sample / "complaints.csv", encoding="gbk", dtype=str,
                       keep_default_na=False).head(5)
    key = rows.columns[0]  # ＧＤＢＨ
    rows[key] = rows[key].str[:-5] + "8" + rows[key].str[-4:]
    rows["JD"], rows["WD"] = "108.45", "19.2"
    path = out / "工单-海上.csv"
    rows.to_csv(path, index=False, encoding="gbk")
    return path


def test_cached_inputs_equal_a_fresh_read_after_each_kind_of_delivery(
        home: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    drop_file(s, _offshore(sample_dir, tmp_path), "complaints")
    assert runner.run_all(s).published  # the published run staged where its rows lie
    wh = runner.warehouse(s)
    staging = staging_store(wh, s.staging)
    located = _Located(monkeypatch)
    contracts = integrate.inputs.input_contracts()

    inputs = _cached(wh, staging, "t-again")  # nothing changed: no row located again
    assert located.taken() == dict.fromkeys(contracts, 0)
    _assert_same(inputs, integrate.load_inputs(wh), "no change")
    files = tmp_path / "deliveries"
    files.mkdir()
    for i, (kind, (make, _)) in enumerate(KINDS.items()):
        dataset, path = make(sample_dir, files)
        drop_file(s, path, dataset)
        [drop] = runner.ingest(s, dataset)
        _assert_partial(wh, staging, f"p-{i}", dataset)
        located.taken()  # (that read's)
        inputs = _cached(wh, staging, f"t-{i}")
        taken = located.taken()
        if dataset == "admin_divisions":  # other counties: every row located again
            assert taken == {name: len(getattr(inputs, name)) for name in contracts}, kind
        else:  # the rows the delivery added, and only those (a snapshot's new versions:
            # one county's projects with one gone, none)
            name = next(n for n, c in contracts.items() if c.dataset == dataset)
            added = len(wh.read_changed(contracts[name], [], [drop.drop_id])[0])
            assert taken.pop(name) == added < len(getattr(inputs, name)), (kind, taken)
            assert added or kind == "one county's HSF", kind
            assert set(taken.values()) == {0}, (kind, taken)
        _assert_same(inputs, integrate.load_inputs(wh), kind)

    # a full run locates everything again, and still stages where each row lies
    inputs = inputs_cache.load_inputs(wh, staging, "t-full", full=True).inputs
    assert located.taken() == {name: len(getattr(inputs, name)) for name in contracts}
    _assert_same(inputs, integrate.load_inputs(wh), "full")
    wh.engine.dispose()


def test_an_order_older_than_the_located_ones_but_new_is_read_whole(
        postgis_url: str, yitu_env: Path, sample_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A version no newer than those the published run located, yet not located by it (a
    load that committed after that run's read began), is read with every column: the read
    that left the enriching columns of older versions unread is made whole again."""
    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    assert runner.run_all(s).published
    wh = runner.warehouse(s)
    staging = staging_store(wh, s.staging)
    published = staging.published()
    assert published is not None
    # the published run as if it had not located one order of its own
    frames = staging.read(published, inputs_cache.LOCATED)
    assert frames is not None
    located = frames["complaints"]
    missed = int(located[inputs_cache.VERSION].iloc[len(located) // 2])
    frames["complaints"] = located[located[inputs_cache.VERSION] != missed]
    staging.write(published, inputs_cache.LOCATED, frames)
    dataset, path = KINDS["complaints"][0](sample_dir, tmp_path)
    drop_file(s, path, dataset)
    runner.ingest(s, dataset)

    read = inputs_cache.load_inputs(wh, staging, "r-1", partial=True)
    fresh = integrate.load_inputs(wh)
    assert read.partial
    orders = read.inputs.complaints
    new = orders[orders[PARCELS_READ]]
    assert len(new) > 1  # the delivery's, and the one missed
    enriching = [c for c in ENRICHING_ONLY["complaints"] if c != "geom"]
    # read whole: every column of every order, as a fresh read gives them
    pd.testing.assert_frame_equal(_sorted(orders.drop(columns=[PARCELS_READ])),
                                  _sorted(fresh.complaints))
    assert orders[enriching].notna().any(axis=None)


def test_reads_ahead_are_taken_only_while_current(
        postgis_url: str, yitu_env: Path, sample_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The licences and work orders read ahead of a plan while a county's parcels are
    answered (`inputs_cache.Prefetch`) are what the plan takes, not read again, and the
    inputs equal a fresh read; read ahead and then changed by a load (licences loaded by
    another run meanwhile), they are read again: the new names are there."""
    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    drop_file(s, _offshore(sample_dir, tmp_path), "complaints")  # orders outside any county
    assert runner.run_all(s).published
    wh = runner.warehouse(s)
    staging = staging_store(wh, s.staging)
    reads: list[str] = []
    whole = PostgisWarehouse.read_current_versions

    def counted(self: PostgisWarehouse, contract, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(contract.dataset)
        return whole(self, contract, *args, **kwargs)

    monkeypatch.setattr(PostgisWarehouse, "read_current_versions", counted)
    contracts = integrate.inputs.input_contracts()
    points = {contracts[n].dataset for n in inputs_cache.POINTED}

    ahead = inputs_cache.Prefetch(wh, staging, {"farmland_pbf"}, full=False)
    assert set(ahead.reads) == set(inputs_cache.POINTED)
    dataset, path = KINDS["one county's PBF"][0](sample_dir, tmp_path)
    drop_file(s, path, dataset)
    runner.ingest(s, dataset)
    read = inputs_cache.load_inputs(wh, staging, "a-1", partial=True, ahead=ahead)
    ahead.close()
    assert read.zones
    assert sorted(r for r in reads if r in points) == sorted(points)  # ahead, once each
    fresh = integrate.load_inputs(wh)
    _assert_zoned(read, fresh)
    staging.mark_published("a-1")

    reads.clear()
    ahead = inputs_cache.Prefetch(wh, staging, {"farmland_pbf"}, full=False)
    dataset, path = KINDS["licences"][0](sample_dir, tmp_path)
    drop_file(s, path, dataset)
    runner.ingest(s, dataset)  # (another run's load, while these were read ahead)
    read = inputs_cache.load_inputs(wh, staging, "a-2", partial=True, ahead=ahead)
    ahead.close()
    assert reads.count(contracts["licenses"].dataset) == 2  # ahead, and again
    fresh = integrate.load_inputs(wh)
    renamed = fresh.licenses["ztmc"].str.endswith("(变更)").sum()  # (half-width, as loaded)
    assert renamed > 0 and read.inputs.licenses["ztmc"].str.endswith("(变更)").sum() == renamed
    _assert_same(read.inputs, fresh, "licences loaded after the read ahead")
    staging.mark_published("a-2")

    reads.clear()  # told to wait (`after`): nothing read until told, then read as before
    told = threading.Event()
    ahead = inputs_cache.Prefetch(wh, staging, {"farmland_pbf"}, full=False, after=told)
    time.sleep(1.0)
    assert not [r for r in reads if r in points] and set(ahead.reads) == set(
        inputs_cache.POINTED)
    told.set()
    read = inputs_cache.load_inputs(wh, staging, "a-3", partial=True, ahead=ahead)
    ahead.close()
    assert sorted(r for r in reads if r in points) == sorted(points)  # ahead, once each
    assert read.inputs.licenses["ztmc"].str.endswith("(变更)").sum() == renamed
    wh.engine.dispose()
