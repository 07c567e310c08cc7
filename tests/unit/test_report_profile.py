"""A delivery's profile, column by column, and what moved against the delivery before."""

from __future__ import annotations

import pandas as pd

from pipelines.contracts import load_contract
from pipelines.report.profile import (
    MIN_ROWS,
    NULL_RATE_JUMP,
    Profile,
    movements,
    profile_frame,
)


def _licences(n: int, djjg: list[str | None] | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "tyshxydm": [f"91460000MA5T{i:06d}" for i in range(n)],
        "ztlx": ["个体工商户", "个体工商户", "有限责任公司"] * (n // 3) + ["个体工商户"] * (n % 3),
        "djjg": djjg if djjg is not None else ["海口市市场监督管理局"] * n,
        "jd": [110.0 + i / 1000 for i in range(n)],
        "clrq": pd.to_datetime(["2020-01-01"] * (n - 1) + ["2024-05-31"]).date,
    })


def test_a_profile_counts_empty_and_distinct_values_top_values_and_ranges() -> None:
    contract = load_contract("licenses")
    frame = _licences(30, ["海口市市场监督管理局"] * 27 + [None] * 3)
    p = profile_frame(contract, "d1", frame)
    assert p.rows == 30
    djjg, ztlx, jd, clrq = (p.column(c) for c in ("djjg", "ztlx", "jd", "clrq"))
    assert djjg and (djjg.nulls, djjg.distinct, djjg.top) == (3, 1, [("海口市市场监督管理局", 27)])
    assert ztlx and ztlx.top == [("个体工商户", 20), ("有限责任公司", 10)]
    assert jd and (jd.low, jd.high) == (110.0, 110.029) and jd.minimum == "110"
    assert clrq and (clrq.minimum, clrq.maximum) == ("2020-01-01", "2024-05-31")
    # values that are all but unique (codes, names) are not listed: they say nothing
    uscc = p.column("tyshxydm")
    assert uscc and uscc.distinct == 30 and uscc.top == []
    # a column the frame lacks is profiled as empty, not skipped
    absent = p.column("fddbr")
    assert absent and absent.nulls == 30


def test_personal_data_is_profiled_without_its_values() -> None:
    contract = load_contract("complaints")
    frame = pd.DataFrame({"ldrxm_masked": ["张*", "张*", "李*"], "ldrxm_token": ["a", "a", "b"],
                          "nrms": ["电话 13800000000 的人投诉", "同上", "同上"]})
    p = profile_frame(contract, "d1", frame)
    names = [c.column for c in p.columns]
    assert "ldrxm_masked" in names and not any(n.endswith("_token") for n in names)
    masked, text = p.column("ldrxm_masked"), p.column("nrms")
    assert masked and (masked.distinct, masked.top) == (2, [])
    assert text and text.top == []  # free text may hold a phone number


def _profile(rows: int, nulls: int, high: float = 10.0) -> Profile:
    frame = _licences(rows, ["局"] * (rows - nulls) + [None] * nulls)
    frame["jd"] = [high * i / max(rows - 1, 1) for i in range(rows)]
    return profile_frame(load_contract("licenses"), "d", frame)


def test_sudden_changes_are_flagged_and_small_moves_are_not() -> None:
    before, after = _profile(100, 0), _profile(100, 20, high=50.0)
    moved = {(m.column, m.what): m for m in movements(before, after, snapshot=True)}
    assert moved[("djjg", "空值率")].flagged and NULL_RATE_JUMP <= 20 / 100
    assert (moved[("djjg", "空值率")].before, moved[("djjg", "空值率")].after) == ("0.0%", "20.0%")
    assert moved[("jd", "取值范围")].flagged  # 0–10 became 0–50
    assert not moved[("", "记录数")].flagged
    calm = movements(before, _profile(100, 5, high=11.0), snapshot=True)
    assert not any(m.flagged for m in calm) and any(m.what == "空值率" for m in calm)


def test_row_counts_jump_only_for_snapshots_and_small_deliveries_never_jump() -> None:
    big, half = _profile(100, 0), _profile(40, 0)
    assert [m.flagged for m in movements(big, half, snapshot=True) if m.what == "记录数"] == [True]
    assert [m.flagged for m in movements(big, half, snapshot=False) if m.what == "记录数"] == [False]
    tiny = movements(_profile(MIN_ROWS - 1, 0), _profile(MIN_ROWS - 1, 9), snapshot=False)
    assert not any(m.flagged for m in tiny if m.what == "空值率")
