"""The inputs an integration run takes from the published run's cache (`runner.inputs_cache`)
equal the inputs read whole (`integrate.load_inputs`): same columns, dtypes and rows, the
same fingerprints, after every kind of delivery, on both warehouses; and the cache reads from
the warehouse only what changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest

from pipelines import integrate, runner
from pipelines.config import settings
from pipelines.integrate import Inputs
from pipelines.integrate.inputs import INPUT_ROLES
from pipelines.landing.drops import drop_file
from pipelines.runner import inputs_cache
from pipelines.warehouse import Warehouse
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


class _Reads:
    """What the cache asks the warehouse for: each dataset's rows after which version."""

    def __init__(self, wh: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
        self.after: list[tuple[str, int | None]] = []
        read = wh.read_current_after

        def spy(contract: Any, after: int | None) -> gpd.GeoDataFrame:
            self.after.append((contract.dataset, after))
            return read(contract, after)

        monkeypatch.setattr(wh, "read_current_after", spy)

    def taken(self) -> list[tuple[str, int | None]]:
        out, self.after = self.after, []
        return out


def _cached(wh: Warehouse, staging: StagingStore, run_id: str) -> Inputs:
    """A run's inputs from the cache of the published run; then this run is the published."""
    inputs = inputs_cache.load_inputs(wh, staging, run_id)
    staging.mark_published(run_id)
    return inputs


def test_cached_inputs_equal_a_fresh_read_after_each_kind_of_delivery(
        home: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    assert runner.run_all(s).published  # the published run staged its inputs
    wh = runner.warehouse(s)
    staging = staging_store(wh, s.staging)
    reads = _Reads(wh, monkeypatch)

    inputs = _cached(wh, staging, "t-again")  # nothing changed: no row read, all taken over
    assert reads.taken() == []
    _assert_same(inputs, integrate.load_inputs(wh), "no change")
    files = tmp_path / "deliveries"
    files.mkdir()
    contracts = integrate.inputs.input_contracts()
    for i, (kind, (make, _)) in enumerate(KINDS.items()):
        dataset, path = make(sample_dir, files)
        drop_file(s, path, dataset)
        runner.ingest(s, dataset)
        inputs = _cached(wh, staging, f"t-{i}")
        taken = reads.taken()
        assert all(after is not None for _, after in taken), (kind, taken)  # new rows only
        if dataset in {c.dataset for c in contracts.values()}:  # of that dataset only
            assert [d for d, _ in taken] == [dataset], (kind, taken)
        _assert_same(inputs, integrate.load_inputs(wh), kind)

    # a full run reads everything again, and still stages what the next run follows
    inputs = inputs_cache.load_inputs(wh, staging, "t-full", full=True)
    assert reads.taken() == [(c.dataset, None) for c in contracts.values()]
    _assert_same(inputs, integrate.load_inputs(wh), "full")
    wh.engine.dispose()
