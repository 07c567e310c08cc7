"""Work orders reused row by row: a rebuilt complaints partition takes over each enriched row
whose source row is the same and whose own response-time interval holds at the new `as_of`,
and enriches only the others; what it stages equals a build from scratch.

The orders of `make_inputs` (tests/unit/test_integrate_partitions.py): G1 (B) contacted, G2
(B) and G3 (no county) open, all dispatched Wed 30 Sep 16:00: contact due 18:00, proposal
Thu 8 Oct 16:00, solution Tue 27 Oct 16:00.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from pipelines.integrate import ENRICHED, ROW_COLUMNS, Inputs, build_part, integrate_part
from pipelines.integrate.inputs import COUNTY, PARCELS_READ, ZONE_READ
from pipelines.integrate.workdays import (
    ResponseRule,
    WorkCalendar,
    evaluate_response_frame,
    row_intervals,
)
from tests.unit.test_integrate_partitions import AS_OF, B, make_inputs

RULE = ResponseRule()  # 2115, next_working_day_midnight
SOLVED_DUE = datetime(2026, 10, 27, 16)
TICK = timedelta(microseconds=1)
KEY = f"{B}/complaints"


def _staged(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """A frame as the staging store hands it back: through GeoParquet."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return gpd.read_parquet(io.BytesIO(buf.getvalue()))


def _orders(when: list[tuple[datetime, datetime | None]]) -> pd.DataFrame:
    """Orders by (dispatch, solved), contact and proposal in time."""
    pdsj = [p for p, _ in when]
    return pd.DataFrame({"pdsj": pdsj, "sclxsj": [p + timedelta(hours=1) for p in pdsj],
                         "blyjsj": [p + timedelta(hours=2) for p in pdsj],
                         "bjsj": [s for _, s in when]}).astype("datetime64[us]")


@pytest.mark.parametrize("now", [SOLVED_DUE - TICK, SOLVED_DUE, SOLVED_DUE + TICK])
def test_a_rows_interval_holds_its_results_and_ends_at_its_deadline(now: datetime) -> None:
    # row 0 open, due Tue 27 Oct 16:00; row 1 solved (never changes); row 2 open, dispatched
    # later (its deadline is its own, not row 0's)
    cal = WorkCalendar()
    df = _orders([(datetime(2026, 9, 30, 16), None), (datetime(2026, 9, 30, 16), SOLVED_DUE),
                  (datetime(2026, 10, 9, 16), None)])
    after, until = row_intervals(df, now, RULE, cal)
    assert np.isnat(after[1]) and np.isnat(until[1])
    assert until[2] > np.datetime64(SOLVED_DUE, "us") and np.isnat(after[2])
    if now <= SOLVED_DUE:
        assert until[0] == np.datetime64(SOLVED_DUE, "us") and np.isnat(after[0])
    else:
        assert after[0] == np.datetime64(SOLVED_DUE, "us") and np.isnat(until[0])
    at_now = evaluate_response_frame(df, now, RULE, cal)
    for row in range(len(df)):  # within a row's interval its results are those at `now`
        lo = now - timedelta(days=300) if np.isnat(after[row]) else \
            pd.Timestamp(after[row]).to_pydatetime() + TICK
        hi = now + timedelta(days=300) if np.isnat(until[row]) else \
            pd.Timestamp(until[row]).to_pydatetime()
        for t in (lo, hi):
            assert evaluate_response_frame(df.iloc[[row]], t, RULE, cal).equals(
                at_now.iloc[[row]]), (row, t)
    # just past row 0's interval, its result differs (the solution is missed, or not yet)
    edge = SOLVED_DUE + TICK if now <= SOLVED_DUE else SOLVED_DUE
    assert not evaluate_response_frame(df.iloc[[0]], edge, RULE, cal).equals(at_now.iloc[[0]])


def _contract(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns=list(ROW_COLUMNS)))


def _built(inputs: Inputs, when: datetime,
           previous: gpd.GeoDataFrame | None = None) -> tuple[gpd.GeoDataFrame, int]:
    layers, reused = build_part(inputs, KEY, when, previous)
    return layers[ENRICHED], reused


def test_rows_are_taken_over_while_their_interval_holds() -> None:
    inputs = make_inputs()
    first, reused = _built(inputs, AS_OF)
    assert reused == 0 and len(first) == 2
    # the contract's columns exactly as `integrate_part` builds them, the row state beside
    whole = integrate_part(inputs, KEY, AS_OF)[ENRICHED]
    pd.testing.assert_frame_equal(_contract(first), pd.DataFrame(whole))

    # the solution deadline not yet passed: both rows taken over
    same, reused = _built(inputs, SOLVED_DUE, _staged(first))
    assert reused == 2
    pd.testing.assert_frame_equal(_contract(same), _contract(_built(inputs, SOLVED_DUE)[0]))

    # passed: G2 (open) enriched again, now missed; G1 (contacted, still open too) as well;
    # both equal a build from scratch
    later = SOLVED_DUE + TICK
    again, reused = _built(inputs, later, _staged(first))
    scratch = _built(inputs, later)[0]
    assert reused == 0
    pd.testing.assert_frame_equal(_contract(again), _contract(scratch))
    assert not _contract(again).equals(_contract(first))


def test_a_row_whose_source_row_changed_is_enriched_again() -> None:
    inputs = make_inputs()
    first, _ = _built(inputs, AS_OF)
    # G1 sent again: a new version of the same order, named now by its credit code
    cmp = inputs.complaints.copy()
    cmp.loc[cmp["gdbh"] == "G1", "sjqyxydm"] = "Z"
    changed = replace(inputs, complaints=cmp)
    again, reused = _built(changed, AS_OF, _staged(first))
    assert reused == 1  # G2 only
    pd.testing.assert_frame_equal(_contract(again), _contract(_built(changed, AS_OF)[0]))
    assert again.set_index("order_id").loc["G1", "uscc"] == "Z"


def test_a_part_staged_before_rows_carried_their_identity_is_built_whole() -> None:
    inputs = make_inputs()
    old = integrate_part(inputs, KEY, AS_OF)[ENRICHED]  # no ROW_COLUMNS
    _, reused = _built(inputs, AS_OF, _staged(old))
    assert reused == 0


def test_rows_judged_again_need_no_parcel_and_inputs_read_in_part_build_only_those() -> None:
    inputs = make_inputs()
    first, _ = _built(inputs, AS_OF)
    later = SOLVED_DUE + TICK
    scratch = _built(inputs, later)[0]
    # no parcel read, no order under one: the rows past their deadline are judged again from
    # what was staged, and equal a build from scratch with every parcel
    orders = inputs.complaints.assign(**{PARCELS_READ: False})
    blind = replace(inputs, complaints=orders, farmland_pbf=inputs.farmland_pbf.iloc[:0],
                    farmland_hsf=inputs.farmland_hsf.iloc[:0])
    again, reused = _built(blind, later, _staged(first))
    assert reused == 0  # both judged again, neither enriched
    pd.testing.assert_frame_equal(_contract(again), _contract(scratch))
    # an order sent again must be enriched: without its parcels read, the build fails loudly
    changed = orders.copy()
    changed.loc[changed["gdbh"] == "G1", "sjqyxydm"] = "Z"
    with pytest.raises(RuntimeError, match="no parcel was read"):
        _built(replace(blind, complaints=changed), later, _staged(first))
    # with its parcels read it is enriched, and equals a whole build
    changed[PARCELS_READ] = changed["gdbh"] == "G1"
    full = replace(inputs, complaints=changed.drop(columns=[PARCELS_READ]))
    mine, reused = _built(replace(inputs, complaints=changed), later, _staged(first))
    pd.testing.assert_frame_equal(_contract(mine), _contract(_built(full, later)[0]))
    # and no other family is built from such inputs...
    for family in ("farmland", "licences"):
        with pytest.raises(RuntimeError, match="read the farmland in part"):
            build_part(blind, f"{B}/{family}", later)
    # ... but those of a county whose whole share was read (`ZONE_READ`), as from the whole
    zoned = replace(inputs, complaints=changed, counties=inputs.counties.assign(
        **{ZONE_READ: inputs.counties[COUNTY] == B}))
    for family in ("farmland", "licences"):
        got, _ = build_part(zoned, f"{B}/{family}", later)
        want = integrate_part(inputs, f"{B}/{family}", later)
        assert list(got) == list(want)
        for layer in got:
            pd.testing.assert_frame_equal(got[layer], want[layer], obj=layer)
    other = next(c for c in inputs.counties[COUNTY] if c != B)
    with pytest.raises(RuntimeError, match="read the farmland in part"):
        build_part(zoned, f"{other}/farmland", later)
