"""The quarterly county assessment on a hand-made half year: every figure below is counted by
hand from the rows written here (or, for the 15-working-day deadlines that holidays move, with
the scalar `add_working_days` reference rather than the vectorised clocks the layer uses)."""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from pipelines.contracts import Targets, load_layer
from pipelines.integrate.assessment import county_assessment, quarter_of
from pipelines.integrate.calendar import add_working_days
from pipelines.integrate.workdays import ResponseRule, WorkCalendar

AS_OF = datetime(2026, 7, 31, 12, 0)
TARGETS = Targets(satisfaction_rate=0.95, resolution_rate=0.9, complaints_per_10k=50)
RULE = ResponseRule.from_region({"contact_hours": 2, "proposal_working_days": 1,
                                 "solved_working_days": 15,
                                 "non_working_day_start": "next_working_day_midnight"})
A, B = "460105", "469001"
T = pd.Timestamp
NaT = pd.NaT


def _counties() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"county_code": [A, B], "county_name": ["秀英区", "五指山市"]},
                            geometry=[shapely.box(110, 20, 110.1, 20.1),
                                      shapely.box(109.5, 18.7, 109.6, 18.8)], crs=4490)


# order: county, received, dispatched, contacted, proposed, closed, result, satisfaction
ORDERS = {
    "o1": (A, T("2026-04-01 09:00"), T("2026-04-01 09:30"), T("2026-04-01 10:00"),
           T("2026-04-01 15:00"), T("2026-04-10 10:00"), "解决", "满意"),
    "o2": (A, T("2026-05-11 10:00"), T("2026-05-11 10:30"), T("2026-05-11 13:00"),
           NaT, NaT, None, "未评价"),
    "o3": (A, T("2026-06-22 09:00"), T("2026-06-22 10:00"), T("2026-06-22 11:00"),
           T("2026-06-22 16:00"), T("2026-07-01 10:00"), "部分解决", "不满意"),
    "o4": (A, T("2026-07-27 09:00"), T("2026-07-27 09:30"), NaT, NaT, NaT, None, None),
    "o5": (B, T("2026-04-15 09:00"), T("2026-04-15 09:10"), T("2026-04-15 09:20"),
           T("2026-04-15 11:00"), T("2026-04-20 10:00"), "解决", "基本满意"),
    "o6": (None, T("2026-04-16 09:00"), T("2026-04-16 09:10"), NaT, NaT, NaT, None, None),
}


def _complaints() -> pd.DataFrame:
    cols = ["county_code", "slsj", "pdsj", "sclxsj", "blyjsj", "bjsj", "bljg", "myd"]
    return pd.DataFrame([dict(zip(cols, v, strict=True)) for v in ORDERS.values()],
                        index=list(ORDERS))


def _licenses() -> pd.DataFrame:
    rows = [  # uscc, county, valid from, valid to
        ("X", A, "2020-01-01", "2030-12-31"), ("X", A, "2021-05-01", "2031-04-30"),  # one entity
        ("Y", A, "2026-01-01", "2026-06-30"),  # in force on 06-30, expired by 09-30
        ("Z", A, "2026-08-01", "2029-07-31"),  # not yet on 06-30
        ("W", A, "2019-03-01", None),  # no end: in force
        ("V", B, "2024-01-01", "2027-01-01"),
        (None, A, "2020-01-01", None),  # no credit code: no entity
    ]
    return pd.DataFrame(rows, columns=["tyshxydm", "county_code", "yxqq", "yxqz"]).assign(
        yxqq=lambda f: pd.to_datetime(f["yxqq"]), yxqz=lambda f: pd.to_datetime(f["yxqz"]))


def _deliveries() -> pd.DataFrame:
    return pd.DataFrame([("d1", "licenses", T("2026-05-02 10:00"), A, 100, 4),
                         ("d2", "complaints", T("2026-07-02 10:00"), A, 50, 0),
                         ("d3", "complaints", T("2026-07-03 10:00"), A, 50, 10)],
                        columns=["drop_id", "dataset", "received_at", "county_code", "rows",
                                 "rejected"])


def _pbf() -> pd.DataFrame:
    return pd.DataFrame([(T("2026-04-10"), A, 1000.0), (T("2026-08-01"), A, 990.0),
                         (T("2026-05-01"), B, 500.0)], columns=["at", "county_code", "area_mu"])


@pytest.fixture(scope="module")
def assessed() -> pd.DataFrame:
    out = county_assessment(_counties(), _complaints(), _licenses(), _deliveries(), _pbf(),
                            AS_OF, TARGETS, RULE, WorkCalendar())
    assert isinstance(out, gpd.GeoDataFrame) and out.crs.to_epsg() == 4490
    assert list(out.columns) == [*load_layer("county_assessment").column_names, "geom"]
    return pd.DataFrame(out).set_index("assessment_id")


def _deadline_quarter(order: str) -> str:
    dispatched = ORDERS[order][2]
    due = add_working_days(dispatched.to_pydatetime(), 15, WorkCalendar())
    return str(quarter_of(pd.Series([due])).iloc[0])


def test_one_row_per_county_and_quarter_with_data(assessed: pd.DataFrame) -> None:
    assert sorted(assessed.index) == [f"{A}:2026Q2", f"{A}:2026Q3", f"{B}:2026Q2",
                                      f"{B}:2026Q3"]
    assert assessed.loc[f"{B}:2026Q3", "county_name"] == "五指山市"
    assert assessed.loc[f"{A}:2026Q3", "quarter"] == "2026Q3"


def test_complaints_entities_and_per_10k(assessed: pd.DataFrame) -> None:
    a2, a3, b2, b3 = (assessed.loc[k] for k in (f"{A}:2026Q2", f"{A}:2026Q3", f"{B}:2026Q2",
                                                f"{B}:2026Q3"))
    assert (a2["complaints"], a3["complaints"], b2["complaints"], b3["complaints"]) == (3, 1, 1, 0)
    # X (two licences, one entity), Y, W on 06-30; X, Z, W on 09-30
    assert (a2["business_entities"], a3["business_entities"]) == (3, 3)
    assert (b2["business_entities"], b3["business_entities"]) == (1, 1)
    assert a2["complaints_per_10k"] == pytest.approx(3 / 3 * 10_000)
    assert a3["complaints_per_10k"] == pytest.approx(1 / 3 * 10_000, abs=1e-4)
    assert b3["complaints_per_10k"] == 0 and bool(b3["complaints_per_10k_met"])
    assert not bool(a2["complaints_per_10k_met"])


def test_due_resolved_and_resolution_rate(assessed: pd.DataFrame) -> None:
    # o4's deadline is after AS_OF: not due yet; o6 is in no county
    due: dict[tuple[str, str], list[str]] = {}
    for order in ("o1", "o2", "o3", "o5"):
        due.setdefault((ORDERS[order][0] or "", _deadline_quarter(order)), []).append(order)
    assert due == {(A, "2026Q2"): ["o1", "o2"], (A, "2026Q3"): ["o3"], (B, "2026Q2"): ["o5"]}
    a2, a3, b2 = (assessed.loc[k] for k in (f"{A}:2026Q2", f"{A}:2026Q3", f"{B}:2026Q2"))
    assert (a2["due"], a2["resolved"], a2["resolution_rate"]) == (2, 1, 0.5)  # o1 解决
    assert (a3["due"], a3["resolved"], a3["resolution_rate"]) == (1, 0, 0.0)  # o3 部分解决
    assert (b2["due"], b2["resolved"], b2["resolution_rate"]) == (1, 1, 1.0)
    assert pd.isna(assessed.loc[f"{B}:2026Q3", "resolution_rate"])
    assert pd.isna(assessed.loc[f"{B}:2026Q3", "resolution_met"])
    assert bool(b2["resolution_met"]) and not bool(a2["resolution_met"])


def test_satisfaction_against_the_target(assessed: pd.DataFrame) -> None:
    a2, a3, b2 = (assessed.loc[k] for k in (f"{A}:2026Q2", f"{A}:2026Q3", f"{B}:2026Q2"))
    assert a2["satisfaction_rate"] == 0.5  # 满意 and 不满意; 未评价 is not an evaluation
    assert not bool(a2["satisfaction_met"])
    assert b2["satisfaction_rate"] == 1.0 and bool(b2["satisfaction_met"])  # 基本满意 counts
    assert pd.isna(a3["satisfaction_rate"]) and pd.isna(a3["satisfaction_met"])
    assert (assessed["satisfaction_target"] == 0.95).all()


def test_the_three_clocks(assessed: pd.DataFrame) -> None:
    a2, a3 = assessed.loc[f"{A}:2026Q2"], assessed.loc[f"{A}:2026Q3"]
    # contact within 2 h: o1 (30 min) and o3 (1 h) yes, o2 (2.5 h) no
    assert a2["sla_contact_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert a2["sla_proposal_rate"] == pytest.approx(2 / 3, abs=1e-4)  # o2 never proposed
    assert a2["sla_solved_rate"] == pytest.approx(2 / 3, abs=1e-4)  # o2 never closed
    # o4: no contact and no proposal by AS_OF (missed); its 15 days are not over (unknown)
    assert (a3["sla_contact_rate"], a3["sla_proposal_rate"]) == (0.0, 0.0)
    assert pd.isna(a3["sla_solved_rate"])


def test_farmland_at_quarter_end_and_its_change(assessed: pd.DataFrame) -> None:
    a2, a3, b2, b3 = (assessed.loc[k] for k in (f"{A}:2026Q2", f"{A}:2026Q3", f"{B}:2026Q2",
                                                f"{B}:2026Q3"))
    assert (a2["pbf_area_mu"], a3["pbf_area_mu"]) == (1000.0, 990.0)
    assert pd.isna(a2["pbf_area_change_mu"])  # nothing delivered by the end of 2026Q1
    assert a3["pbf_area_change_mu"] == -10.0
    assert (b2["pbf_area_mu"], b3["pbf_area_mu"], b3["pbf_area_change_mu"]) == (500, 500, 0)


def test_quality_of_the_deliveries_concerning_the_county(assessed: pd.DataFrame) -> None:
    a2, a3, b2 = (assessed.loc[k] for k in (f"{A}:2026Q2", f"{A}:2026Q3", f"{B}:2026Q2"))
    assert (a2["rows_delivered"], a2["rows_rejected"], a2["quality_score"]) == (100, 4, 96.0)
    assert (a3["rows_delivered"], a3["rows_rejected"], a3["quality_score"]) == (100, 10, 90.0)
    assert b2["rows_delivered"] == 0 and pd.isna(b2["quality_score"])


def test_nothing_delivered_yet_gives_an_empty_layer() -> None:
    empty = county_assessment(_counties(), _complaints().iloc[:0], _licenses().iloc[:0],
                              _deliveries().iloc[:0], _pbf().iloc[:0], AS_OF, TARGETS, RULE,
                              WorkCalendar())
    assert empty.empty
    assert list(empty.columns) == [*load_layer("county_assessment").column_names, "geom"]


def _quarter_by_text(moments: pd.Series) -> pd.Series:
    """The label made per moment as text (quarter_of's first form): the reference."""
    ts = pd.to_datetime(moments)
    labels = (ts.dt.year.astype("Int64").astype(str) + "Q"
              + ts.dt.quarter.astype("Int64").astype(str))
    return labels.where(ts.notna(), None)


def test_quarter_of_labels_each_moment_as_made_per_moment() -> None:
    rng = np.random.default_rng(7)
    moments = pd.Series(pd.to_datetime(rng.integers(-1_000_000_000, 2_800_000_000, 20_000),
                                       unit="s"), index=np.arange(20_000) + 5)
    moments[::7] = pd.NaT
    for given in (moments, moments.dt.tz_localize("UTC").dt.tz_convert("Asia/Shanghai"),
                  moments[:0], pd.Series([None, None]), moments.dropna(),
                  pd.Series(["2026-07-01 00:00:00", "2026-06-30 23:59:59",
                             "1969-12-31 23:00:00"])):
        pd.testing.assert_series_equal(quarter_of(given), _quarter_by_text(given))
    assert quarter_of(pd.Series(["2026-09-30 23:59:59", None])).tolist()[0] == "2026Q3"
