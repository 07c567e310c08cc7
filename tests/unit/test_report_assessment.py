"""The quarterly ranking: order, places gained or lost, change of each figure, who missed."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from pipelines.contracts import load_layer
from pipelines.report.assessment import COUNTY_ORDER, assessment_pages, quarter_page, ranked

NOW = datetime(2026, 11, 16, tzinfo=UTC)


def _counties() -> pd.DataFrame:
    rows = [  # quarter, code, name, satisfaction, resolution, per 10k, met
        ("2026Q2", "A", "甲县", 0.97, 0.90, 10.0, True),
        ("2026Q2", "B", "乙县", 0.93, 0.95, 12.0, False),
        ("2026Q2", "C", "丙县", 0.96, 0.80, 30.0, True),
        ("2026Q3", "A", "甲县", 0.94, 0.92, 11.0, False),
        ("2026Q3", "B", "乙县", 0.98, 0.95, 9.0, True),
        ("2026Q3", "C", "丙县", 0.94, 0.93, 20.0, False),
        ("2026Q3", "D", "丁县", None, None, None, None),  # new: no evaluated work orders
    ]
    frame = pd.DataFrame(rows, columns=["quarter", "county_code", "county_name",
                                        "satisfaction_rate", "resolution_rate",
                                        "complaints_per_10k", "satisfaction_met"])
    return frame.assign(satisfaction_target=0.95)


def test_counties_rank_by_satisfaction_then_resolution_with_changes() -> None:
    q3 = ranked(_counties(), "county_code", COUNTY_ORDER, "2026Q3",
                ["satisfaction_rate", "complaints_per_10k"])
    assert list(q3["county_code"]) == ["B", "C", "A", "D"]  # C and A tie on 满意率: 解决率
    assert list(q3["rank"]) == [1, 2, 3, 4]
    # Q2 order was A (1), C (2), B (3): B gained two places, A lost two, D is new
    moves = dict(zip(q3["county_code"], q3["rank_change"], strict=True))
    assert (moves["B"], moves["C"], moves["A"]) == (2, 0, -2) and pd.isna(moves["D"])
    change = dict(zip(q3["county_code"], q3["satisfaction_rate_change"], strict=True))
    assert round(change["B"], 4) == 0.05 and round(change["A"], 4) == -0.03
    assert pd.isna(change["D"])


def test_the_first_quarter_has_no_changes() -> None:
    q2 = ranked(_counties(), "county_code", COUNTY_ORDER, "2026Q2", ["satisfaction_rate"])
    assert list(q2["county_code"]) == ["A", "C", "B"]
    assert q2["rank_change"].isna().all() and q2["satisfaction_rate_change"].isna().all()


def test_a_page_per_quarter_linked_to_each_other_names_who_missed_the_target() -> None:
    departments = pd.DataFrame([
        {"department": "甲局", "quarter": "2026Q3", "deliveries_expected": 3,
         "deliveries_on_time": 2, "deliveries_late": 1, "deliveries_missing": 0,
         "rows_received": 100, "rows_rejected": 5, "score": 90.0},
        {"department": "乙局", "quarter": "2026Q3", "deliveries_expected": 1,
         "deliveries_on_time": 1, "deliveries_late": 0, "deliveries_missing": 0,
         "rows_received": 10, "rows_rejected": 0, "score": 99.0}])
    pages = assessment_pages(_counties(), departments, load_layer("county_assessment"), NOW)
    assert [p.quarter for p in pages] == ["2026Q2", "2026Q3"]
    q3 = pages[-1].html
    for q in ("2026Q2", "2026Q3"):
        assert f"href='{quarter_page(q)}'" in q3
    missed = q3[q3.index("未达到满意率目标"):].split("</p>")[0]
    assert "甲县" in missed and "丙县" in missed and "乙县" not in missed and "丁县" not in missed
    ranking = q3[q3.index("class='ranking departments'"):]
    assert ranking.index("乙局") < ranking.index("甲局")
    assert "部门排名" not in pages[0].html  # no department figures for 2026Q2
