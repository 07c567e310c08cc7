"""The diff behind `yitu status`'s "changes: +N −N ~N" and the farmland shrinkage report."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from pipelines.geodesy import M2_PER_MU, ellipsoidal_area_m2
from pipelines.load.changes import (
    change_line,
    changed_columns,
    diff_rows,
    pbf_county_balance,
    shrink_warnings,
)


def _parcels(rows: list[tuple[str, str, int, float]]) -> gpd.GeoDataFrame:
    """(id, county, gddb, x): a 0.001-degree square parcel at lon 110 + x."""
    return gpd.GeoDataFrame(
        {"id": [r[0] for r in rows], "xzqdm": [r[1] for r in rows],
         "gddb": pd.array([r[2] for r in rows], dtype="Int64")},
        geometry=[box(110 + r[3], 19, 110.001 + r[3], 19.001) for r in rows], crs=4490,
    ).rename_geometry("geom")


COLUMNS = ["id", "xzqdm", "gddb", "geom"]
BEFORE = _parcels([("a", "460105", 1, 0), ("b", "460105", 2, 0.01), ("c", "460106", 3, 0.02),
                   ("d", "460106", 4, 0.03)])


def test_keyed_diff_counts_added_removed_changed_unchanged() -> None:
    after = _parcels([("a", "460105", 1, 0),            # unchanged
                      ("c", "460106", 9, 0.02),         # attribute corrected
                      ("d", "460106", 4, 0.0305),       # geometry moved
                      ("e", "460106", 5, 0.04)])        # new; b is gone
    diff = diff_rows(BEFORE, after, COLUMNS, key="id")
    assert diff.counts() == {"added": 1, "removed": 1, "changed": 2, "unchanged": 1}
    assert list(after["id"].iloc[diff.added]) == ["e"]
    assert list(BEFORE["id"].iloc[diff.removed]) == ["b"]
    assert list(BEFORE["id"].iloc[diff.changed_before]) == ["c", "d"]
    assert list(after["id"].iloc[diff.changed_after]) == ["c", "d"]
    assert changed_columns(BEFORE, after, diff, COLUMNS) == {"gddb": 1, "geom": 1}


def test_row_order_and_nulls_do_not_count_as_changes() -> None:
    before = BEFORE.copy()
    before.loc[1, "gddb"] = pd.NA
    after = before.iloc[::-1].reset_index(drop=True)
    assert diff_rows(before, after, COLUMNS, key="id").counts() == {
        "added": 0, "removed": 0, "changed": 0, "unchanged": 4}


def test_keyless_rows_compare_as_multisets() -> None:
    before = BEFORE.drop(columns="id")
    cols = ["xzqdm", "gddb", "geom"]
    # one duplicate of row 0 added, row 3 replaced by an edited copy
    after = pd.concat([before.iloc[[0, 0, 1, 2]], before.iloc[[3]].assign(gddb=7)],
                      ignore_index=True)
    diff = diff_rows(before, gpd.GeoDataFrame(after, geometry="geom"), cols)
    assert diff.counts() == {"added": 2, "removed": 1, "changed": 0, "unchanged": 3}


def test_first_delivery_is_all_added() -> None:
    diff = diff_rows(BEFORE.iloc[0:0], BEFORE, COLUMNS, key="id")
    assert diff.counts() == {"added": 4, "removed": 0, "changed": 0, "unchanged": 0}


def test_county_balance_reports_lost_area_and_removed_parcels() -> None:
    after = _parcels([("a", "460105", 1, 0),
                      ("c", "460105", 3, 0.02),   # restated from 460106 to 460105
                      ("d", "460106", 4, 0.03)])  # b removed outright
    diff = diff_rows(BEFORE, after, COLUMNS, key="id")
    out = pbf_county_balance(BEFORE, after, diff, "id", "xzqdm").set_index("county_code")
    c_area = ellipsoidal_area_m2(BEFORE.geometry.iloc[[2]])[0]

    assert out.loc["460105", "parcels_before"] == 2 and out.loc["460105", "parcels_after"] == 2
    assert not out.loc["460105", "shrunk"]  # b went, c came: squares of the same size
    assert json.loads(out.loc["460105", "removed_ids"]) == ["b"]
    # 460106 lost parcel c to its neighbour: a shrinking county although nothing was deleted
    assert json.loads(out.loc["460106", "removed_ids"]) == ["c"]
    assert out.loc["460106", "area_lost_mu"] == pytest.approx(c_area / M2_PER_MU, rel=1e-12)
    assert out.loc["460106", "shrunk"]
    assert out.loc["460106", "area_before_mu"] - out.loc["460106", "area_after_mu"] == \
        pytest.approx(c_area / M2_PER_MU)


def test_untouched_county_shows_no_loss_at_all() -> None:
    after = BEFORE.iloc[[0, 1, 3, 2]].reset_index(drop=True)  # same parcels, other order
    out = pbf_county_balance(BEFORE, after, diff_rows(BEFORE, after, COLUMNS, key="id"), "id", "xzqdm")
    assert (out["area_lost_mu"] == 0).all() and not out["shrunk"].any()
    assert np.allclose(out["area_before_mu"], out["area_after_mu"])


def test_status_lines() -> None:
    notes = {"changes": {"added": 2, "removed": 5, "changed": 3, "pbf_shrunk": [
        {"county_code": "460105", "county_name": "秀英区", "area_lost_mu": 12.345,
         "parcels_removed": 5}]}}
    assert change_line(notes) == "changes: +2 −5 ~3"
    assert shrink_warnings(notes) == [
        "WARNING 永久基本农田面积减少 460105 秀英区: 减少 12.35 亩, 移除图斑 5 个"]
    assert change_line({}) is None and shrink_warnings({}) == []
    assert change_line({"changes": {"error": "boom"}}) == "changes: not computed (boom)"


def test_points_compare_by_exact_coordinates() -> None:
    before = gpd.GeoDataFrame({"k": ["x"]}, geometry=[Point(110, 19)], crs=4490)
    moved = gpd.GeoDataFrame({"k": ["x"]}, geometry=[Point(110, 19 + 1e-9)], crs=4490)
    assert diff_rows(before, moved, ["k", "geometry"], key="k").counts()["changed"] == 1
