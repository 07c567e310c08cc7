"""Work-order parts kept as segments (`pipelines.integrate.segments`): a staged segment is kept
as it is only while every row of it is the row of one of the part's orders, unchanged and
still holding; the orders of kept segments are not built; the segments and the new rows
together equal a build from scratch. County B's orders of `make_inputs`: G1 (contacted) and
G2, both open; G2 states its county and has no point."""

from __future__ import annotations

from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd

from pipelines.integrate import ENRICHED, ROW_COLUMNS, Inputs, build_part, own_rows
from pipelines.integrate.segments import carried, frame_of, joined, split_frame
from tests.unit.test_integrate_partitions import AS_OF, B
from tests.unit.test_integrate_rows import KEY, SOLVED_DUE, TICK, _staged, make_inputs


def _without(inputs: Inputs, order: str) -> Inputs:
    return replace(inputs, complaints=inputs.complaints[inputs.complaints["gdbh"] != order])


def _segment(inputs: Inputs, when: object = AS_OF) -> gpd.GeoDataFrame:
    return _staged(build_part(inputs, KEY, when)[0][ENRICHED])  # type: ignore[arg-type]


def _heads(**segments: gpd.GeoDataFrame) -> dict[str, pd.DataFrame]:
    """Segments as a run reads them first: their `ROW_COLUMNS` only."""
    return {frame_of(ENRICHED, run) if run != "legacy" else ENRICHED:
            pd.DataFrame(frame[list(ROW_COLUMNS)]) for run, frame in segments.items()}


def _rows(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(frame.drop(columns=[*ROW_COLUMNS, "geom"])).sort_values(
        "order_id").reset_index(drop=True).astype(str)


def test_a_day_keeps_the_segments_staged_and_builds_its_own_orders() -> None:
    inputs = make_inputs()
    r1 = _segment(_without(inputs, "G2"))  # the first day: G1 only
    orders = inputs.own("complaints", B)["gdbh"].tolist()
    kept = carried(_heads(r1=r1), own_rows(inputs, B), AS_OF)
    assert kept.frames == (frame_of(ENRICHED, "r1"),)
    assert kept.held.tolist() == [o == "G1" for o in orders] and kept.rows == 1
    layers, reused = build_part(inputs, KEY, AS_OF, None, kept.held)
    assert reused == 0 and layers[ENRICHED]["order_id"].tolist() == ["G2"]
    # the part, its segments joined, equals a build of both orders from scratch
    part = joined({frame_of(ENRICHED, "r1"): r1, frame_of(ENRICHED, "r2"): layers[ENRICHED]})
    assert list(part) == [ENRICHED] and split_frame(frame_of(ENRICHED, "r2")) == (ENRICHED, "r2")
    pd.testing.assert_frame_equal(_rows(part[ENRICHED]), _rows(_segment(inputs)))


def test_a_segment_whose_rows_changed_is_not_kept() -> None:
    inputs = make_inputs()
    r1 = _segment(inputs)
    rows = own_rows(inputs, B)
    assert carried(_heads(r1=r1), rows, AS_OF).frames  # as it was: kept
    # a deadline passed for an open order: its results are judged again
    assert carried(_heads(r1=r1), rows, SOLVED_DUE + TICK).frames == ()
    # an order sent again, changed
    cmp = inputs.complaints.copy()
    cmp.loc[cmp["gdbh"] == "G1", "sjqyxydm"] = "Z"
    assert carried(_heads(r1=r1), own_rows(replace(inputs, complaints=cmp), B), AS_OF).frames == ()
    # an order gone: its row must go too
    assert carried(_heads(r1=r1), own_rows(_without(inputs, "G2"), B), AS_OF).frames == ()
    # a frame staged before segments is never kept; no segment, nothing held
    none = carried(_heads(legacy=r1), rows, AS_OF)
    assert none.frames == () and not none.held.any() and len(none.held) == len(rows)


def test_a_row_serves_one_order_and_a_part_keeps_few_segments() -> None:
    inputs = make_inputs()
    rows = own_rows(inputs, B)
    g1, g2 = _segment(_without(inputs, "G2")), _segment(_without(inputs, "G1"))
    # G1's row staged twice: one segment serves it, the other holds a row of no order
    twice = carried(_heads(a=g1, b=g1, c=g2), rows, AS_OF)
    assert twice.frames == (frame_of(ENRICHED, "a"), frame_of(ENRICHED, "c"))
    assert twice.held.all()
    # a row served by an earlier segment leaves a later one holding it with a row of none
    assert carried(_heads(big=_segment(inputs), z=g1), rows, AS_OF).frames == (
        frame_of(ENRICHED, "big"),)
    # at most `most` segments after the run, its own last: the largest kept first (of equal
    # ones, the first by name)
    orders = inputs.own("complaints", B)["gdbh"].tolist()
    few = carried(_heads(a=g1, b=g2), rows, AS_OF, most=2)
    assert few.frames == (frame_of(ENRICHED, "a"),)
    assert few.held.tolist() == [o == "G1" for o in orders]
    assert np.array_equal(carried(_heads(a=g1, b=g2), rows, AS_OF, most=1).held,
                          np.zeros(len(rows), dtype=bool))
