"""How a run's inputs are read and picked by county: the whole reads side by side, never
more than two held unlocated (`runner.inputs_cache._Ahead`); each frame's rows grouped by
county once (`Inputs.positions`), picking the same rows as a comparison of every row."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import geopandas as gpd
import numpy as np
import pytest

from pipelines.integrate import own_rows, row_ids
from pipelines.integrate.inputs import COUNTY, UNLOCATED, input_contracts
from pipelines.runner.inputs_cache import _Ahead
from tests.unit.test_integrate_partitions import A, B, make_inputs


class _SlowWarehouse:
    """Reads that take a while, counting how many run at once."""

    def __init__(self, side_by_side: bool) -> None:
        self.reads_side_by_side = side_by_side
        self.running = self.most = 0
        self.started: list[str] = []
        self.lock = threading.Lock()

    def read_current_versions(self, contract: Any, columns: Any, sparse: Any = (),
                              upto: Any = None) -> gpd.GeoDataFrame:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.started.append(contract.dataset)
        time.sleep(0.05)
        with self.lock:
            self.running -= 1
        return gpd.GeoDataFrame({"read": [contract.dataset]}, geometry=[None], crs=4490)


@pytest.mark.parametrize("side_by_side", [True, False])
def test_the_whole_reads_run_two_at_a_time_at_most(side_by_side: bool) -> None:
    wh = _SlowWarehouse(side_by_side)
    contracts = list(input_contracts().items())
    ahead = _Ahead(wh, contracts)  # type: ignore[arg-type]
    try:
        for name, contract in contracts:
            assert name in ahead
            time.sleep(0.12)  # the rows located meanwhile: the next read runs, no third
            assert len(wh.started) <= contracts.index((name, contract)) + 2
            assert ahead.take(name)["read"].tolist() == [contract.dataset]
            assert name not in ahead
    finally:
        ahead.close()
    assert wh.most == (2 if side_by_side else 1)
    assert wh.started == [c.dataset for _, c in contracts]  # in the order asked


def test_rows_are_picked_by_county_as_by_comparing_every_row() -> None:
    inputs = make_inputs()
    for name in ("farmland_pbf", "farmland_hsf", "licenses", "complaints"):
        frame = getattr(inputs, name)
        for code in (A, B, UNLOCATED):
            mask = frame[COUNTY].isna() if code == UNLOCATED else frame[COUNTY] == code
            assert inputs.own(name, code).equals(frame[mask]), (name, code)
    # made once per inputs; new inputs (`replace`) group their own rows
    assert inputs.positions("complaints") is inputs.positions("complaints")
    moved = inputs.complaints.assign(**{COUNTY: A})
    other = replace(inputs, complaints=moved)
    assert len(other.own("complaints", A)) == len(moved)
    assert np.array_equal(own_rows(other, A), row_ids(other, "complaints"))
    assert len(own_rows(inputs, A)) == len(inputs.own("complaints", A))
