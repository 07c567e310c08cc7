"""An Airflow county task is given its county's share of the run's inputs, not the whole
province: on the sample, staged on both stores (a folder beside the GeoPackage, the PostGIS
warehouse's staging schema), each county's and UNLOCATED's share builds every family's layers
frame for frame as the whole staged inputs did (the route before shares), reading its share
and the run's licence register only; publish's part answers which partitions the run has."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from pipelines import integrate, runner
from pipelines.config import settings
from pipelines.integrate import Inputs
from pipelines.integrate.inputs import INPUT_ROLES
from pipelines.landing.drops import drop_file
from pipelines.runner.integration import IntegrationRun, _frames, _run_inputs
from pipelines.warehouse import Warehouse, open_warehouse
from pipelines.warehouse.staging import REGISTERS, StagingStore, share_part, staging_store
from tests.conftest import set_yitu_env
from tests.integration import test_staging

AS_OF = datetime(2026, 11, 16, 12)
store = test_staging.store  # the fixture: each store in turn, as the staging tests have them


@pytest.fixture(scope="module")
def whole(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    """The sample loaded into a GeoPackage warehouse, its inputs read as a run reads them."""
    with pytest.MonkeyPatch.context() as mp:
        set_yitu_env(mp, tmp_path_factory.mktemp("home"), None)
        s = settings()
        for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
            drop_file(s, sample_dir / f["file"], f["dataset"])
        runner.ingest(s)
        return integrate.load_inputs(runner.warehouse(s))


def _frames_of(inputs: Inputs) -> dict[str, gpd.GeoDataFrame]:
    return {name: getattr(inputs, name) for name in ("counties", *INPUT_ROLES)}


# the sample has no farmland outside every county: UNLOCATED's share is built anyway
def _codes(whole: Inputs) -> list[str]:
    return list(dict.fromkeys([*integrate.partitions(whole), integrate.UNLOCATED]))


Layers = dict[str, dict[str, gpd.GeoDataFrame]]


@pytest.fixture(scope="module")
def before(whole: Inputs, tmp_path_factory: pytest.TempPathFactory) -> Layers:
    """Every partition as the route before shares built it: from the whole inputs, staged."""
    folder = staging_store(open_warehouse("gpkg:///nowhere/never-opened.gpkg"),
                           tmp_path_factory.mktemp("before"))
    folder.save_inputs("before", _frames_of(whole))
    staged = Inputs(**(folder.read_inputs("before") or {}))
    return {key: integrate.integrate_part(staged, key, AS_OF)
            for key in integrate.part_keys(_codes(whole))}


def test_each_share_builds_what_the_whole_built(whole: Inputs, before: Layers,
                                                store: StagingStore, tmp_path: Path) -> None:
    codes = _codes(whole)
    assert len(codes) == 25
    keys = integrate.part_keys(codes)
    run = IntegrationRun("r", AS_OF, tuple(codes), build=tuple(keys))
    store.write_parts("r", _frames(whole, keys))
    # A warehouse with nothing in it: a task that fell back to reading the warehouse, or read
    # another part than its own, would build something else.
    nothing = open_warehouse(f"gpkg:///{tmp_path / 'empty.gpkg'}")
    total = sum(len(getattr(whole, f)) for f in INPUT_ROLES)
    for i, code in enumerate(codes):
        alone = f"alone-{i}"  # a run staged with this county's share and the register only
        store.adopt(alone, "r", [share_part(code), REGISTERS])
        share = _run_inputs(store, nothing, replace(run, run_id=alone), code)
        rows = sum(len(getattr(share, f)) for f in INPUT_ROLES)
        # the county's rows and what reaches it, no more
        assert rows < total / 4 and (rows > 0 or code == integrate.UNLOCATED), code
        for key in integrate.part_keys([code]):
            got, want = integrate.integrate_part(share, key, AS_OF), before[key]
            assert sorted(got) == sorted(want), key
            for layer in want:
                pd.testing.assert_frame_equal(pd.DataFrame(got[layer]),
                                              pd.DataFrame(want[layer]), obj=f"{key} {layer}")


def test_publish_reads_no_parcels_and_knows_the_partitions(whole: Inputs,
                                                           store: StagingStore) -> None:
    codes = integrate.partitions(whole)
    keys = integrate.part_keys(codes[:2])  # a run building two counties
    store.write_parts("r", _frames(whole, keys))
    run = IntegrationRun("r", AS_OF, tuple(codes[:2]), build=tuple(keys))
    wh: Warehouse = open_warehouse("gpkg:///nowhere/never-opened.gpkg")
    published = _run_inputs(store, wh, run)
    assert integrate.partitions(published) == codes
    assert len(published.farmland_pbf) < len(whole.farmland_pbf) / 20  # UNLOCATED's only
    for name in ("counties", "licenses", "complaints"):  # what finish and the assessment read
        assert len(getattr(published, name)) == len(getattr(whole, name))
    staged = {share_part(c) for c in codes} & set(store.read_parts("r", [share_part(c)
                                                                         for c in codes]))
    assert staged == {share_part(c) for c in codes[:2]}  # the counties it builds, only
