"""Working-day deadlines of the 12345 response rule, against hand-computed 2026 dates.

The 2026 schedule in chinesecalendar 1.11 (checked against the package's constants, which
match the State Council notice):
  Mid-Autumn  Fri 25 Sep - Sun 27 Sep off
  National Day Thu 1 Oct - Wed 7 Oct off
  make-up working days: Sun 20 Sep and Sat 10 Oct
So around National Day the working days are:
  Wed 30 Sep | (1-7 Oct off) | Thu 8, Fri 9, Sat 10 | Mon 12 - Fri 16 | Mon 19 - Fri 23 | Mon 26 ...
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.integrate.workdays import (
    SLA_COLUMNS,
    CalendarYearUnknown,
    ResponseRule,
    WorkCalendar,
    add_working_days,
    evaluate_response_frame,
    judged_alike,
    response_changes,
)
from tests.unit.workdays_reference import evaluate_response, working_day_deadline

REGION_YML = Path(__file__).resolve().parents[2] / "schemas" / "region.yml"
T = dt.datetime
RULE = ResponseRule()  # 2115, next_working_day_midnight
AS_IS = ResponseRule(non_working_day_start="as_is")


def results(out: pd.DataFrame, label: int) -> tuple[bool | None, ...]:
    """A frame row's three results as Python values (None for <NA>)."""
    values: list[object] = [out.at[label, column] for column in SLA_COLUMNS]
    return tuple(None if v is pd.NA else bool(v) for v in values)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


def test_package_calendar_2026_national_day(cal: WorkCalendar) -> None:
    assert not cal.is_workday(dt.date(2026, 10, 1))  # Thursday, holiday
    assert not cal.is_workday(dt.date(2026, 10, 7))  # Wednesday, holiday
    assert cal.is_workday(dt.date(2026, 10, 8))
    assert cal.is_workday(dt.date(2026, 10, 10))  # Saturday, make-up day
    assert cal.is_workday(dt.date(2026, 9, 20))  # Sunday, make-up day
    assert not cal.is_workday(dt.date(2026, 10, 11))  # ordinary Sunday


def test_friday_before_make_up_saturday(cal: WorkCalendar) -> None:
    # Fri 9 Oct 15:00: the next working day is the make-up Saturday 10 Oct.
    assert add_working_days(T(2026, 10, 9, 15), 1, cal) == T(2026, 10, 10, 15)
    # 15 working days: Sat 10 (1), Mon 12-Fri 16 (2-6), 19-23 (7-11), Mon 26-Thu 29 (12-15).
    assert add_working_days(T(2026, 10, 9, 15), 15, cal) == T(2026, 10, 29, 15)


def test_working_day_before_the_holiday(cal: WorkCalendar) -> None:
    # Wed 30 Sep 16:00: 1-7 Oct are off, so the first working day after is Thu 8 Oct.
    assert add_working_days(T(2026, 9, 30, 16), 1, cal) == T(2026, 10, 8, 16)


def test_dispatch_on_a_holiday_starts_next_working_day_midnight(cal: WorkCalendar) -> None:
    # Fri 2 Oct 10:00 is a holiday; the next working day is Thu 8 Oct, so S = 8 Oct 00:00.
    # 1 working day after 8 Oct is Fri 9 Oct -> deadline 9 Oct 00:00 (all of 8 Oct counts).
    pdsj = T(2026, 10, 2, 10)
    assert working_day_deadline(pdsj, 1, RULE, cal) == T(2026, 10, 9)
    # 15 after 8 Oct: Fri 9 (1), Sat 10 (2), 12-16 (3-7), 19-23 (8-12), Mon 26-Wed 28 (13-15).
    assert working_day_deadline(pdsj, 15, RULE, cal) == T(2026, 10, 28)
    # as_is: counted from 2 Oct 10:00: Thu 8 (1) ... 26 (14), Tue 27 (15).
    assert working_day_deadline(pdsj, 1, AS_IS, cal) == T(2026, 10, 8, 10)
    assert working_day_deadline(pdsj, 15, AS_IS, cal) == T(2026, 10, 27, 10)


def test_saturday_before_make_up_sunday(cal: WorkCalendar) -> None:
    # Sat 19 Sep is off; the make-up Sunday 20 Sep is the next working day -> S = 20 Sep 00:00,
    # 1-wd deadline = Mon 21 Sep 00:00.
    assert working_day_deadline(T(2026, 9, 19, 9), 1, RULE, cal) == T(2026, 9, 21)
    # A dispatch on the make-up Sunday itself is on a working day: no shift.
    assert working_day_deadline(T(2026, 9, 20, 9), 1, RULE, cal) == T(2026, 9, 21, 9)


def test_contact_is_clock_time_even_on_holidays(cal: WorkCalendar) -> None:
    pdsj = T(2026, 10, 2, 10)  # holiday: the 2-hour contact clock does not move
    now = T(2026, 11, 30)
    assert evaluate_response(pdsj, T(2026, 10, 2, 12), None, None, now, RULE, cal)[0] is True
    late = T(2026, 10, 2, 12, 0, 1)
    assert evaluate_response(pdsj, late, None, None, now, RULE, cal)[0] is False


def test_deadline_boundaries(cal: WorkCalendar) -> None:
    pdsj = T(2026, 10, 9, 15)
    now = T(2026, 12, 1)
    on_time = evaluate_response(
        pdsj, T(2026, 10, 9, 17), T(2026, 10, 10, 15), T(2026, 10, 29, 15), now, RULE, cal
    )
    assert on_time == (True, True, True)
    one_second = dt.timedelta(seconds=1)
    late = evaluate_response(
        pdsj,
        T(2026, 10, 9, 17) + one_second,
        T(2026, 10, 10, 15) + one_second,
        T(2026, 10, 29, 15) + one_second,
        now,
        RULE,
        cal,
    )
    assert late == (False, False, False)


def test_open_order_not_yet_due_then_overdue(cal: WorkCalendar) -> None:
    pdsj = T(2026, 10, 9, 15)
    # contacted at 16:00; no proposal, not solved
    args = (pdsj, T(2026, 10, 9, 16), None, None)
    assert evaluate_response(*args, T(2026, 10, 10, 15), RULE, cal) == (True, None, None)
    assert evaluate_response(*args, T(2026, 10, 10, 15, 0, 1), RULE, cal) == (True, False, None)
    assert evaluate_response(*args, T(2026, 10, 29, 15, 0, 1), RULE, cal) == (True, False, False)
    # never contacted and 2 hours gone
    assert evaluate_response(pdsj, None, None, None, T(2026, 10, 9, 17, 1), RULE, cal)[0] is False
    assert evaluate_response(None, None, None, None, T(2026, 10, 9), RULE, cal) == (None,) * 3


def test_unknown_year_is_never_guessed(cal: WorkCalendar) -> None:
    with pytest.raises(CalendarYearUnknown):
        cal.is_workday(dt.date(2027, 3, 1))
    assert not cal.knows_year(2027)
    pdsj = T(2027, 3, 1, 10)
    result = evaluate_response(
        pdsj, T(2027, 3, 1, 11), T(2027, 3, 1, 15), T(2027, 3, 5), T(2027, 6, 1), RULE, cal
    )
    assert result == (True, None, None)


def test_event_before_the_unknown_year_is_in_time(cal: WorkCalendar) -> None:
    # Thu 31 Dec 2026 10:00: the 1-wd deadline lies in 2027 (unknown) but on or after
    # 1 Jan 2027 00:00, so a proposal the same afternoon is in time; one on 4 Jan is not known.
    pdsj = T(2026, 12, 31, 10)
    now = T(2027, 2, 1)
    early = evaluate_response(pdsj, None, T(2026, 12, 31, 16), None, now, RULE, cal)
    assert early[1] is True
    later = evaluate_response(pdsj, None, T(2027, 1, 4, 9), None, now, RULE, cal)
    assert later[1] is None


def test_frame_results_and_unknown_flag(cal: WorkCalendar) -> None:
    df = pd.DataFrame(
        {
            "pdsj": [T(2026, 10, 9, 15), T(2026, 10, 9, 15), T(2027, 3, 1, 10), pd.NaT],
            "sclxsj": [T(2026, 10, 9, 17), T(2026, 10, 9, 17, 0, 1), T(2027, 3, 1, 11), pd.NaT],
            "blyjsj": [T(2026, 10, 10, 15), pd.NaT, T(2027, 3, 1, 15), pd.NaT],
            "bjsj": [T(2026, 10, 29, 15), pd.NaT, pd.NaT, pd.NaT],
        },
        index=[10, 11, 12, 13],
    )
    out = evaluate_response_frame(df, T(2026, 10, 20), RULE, cal)
    assert list(out.index) == [10, 11, 12, 13]
    assert all(out[c].dtype == "boolean" for c in out.columns[:3])
    assert out["sla_calendar_unknown"].dtype == bool
    assert results(out, 10) == (True, True, True)
    assert results(out, 11) == (False, False, None)  # solved due 29 Oct, now is 20 Oct
    assert results(out, 12) == (True, None, None)  # 2027: contact is clock time only
    assert results(out, 13) == (None, None, None)
    assert out["sla_calendar_unknown"].tolist() == [False, False, True, False]


def test_override_file_makes_2027_known(tmp_path: Path) -> None:
    overrides = tmp_path / "calendar_overrides.yml"
    # a made-up test calendar, not 2027's real one: Fri 1 Jan off, Sat 9 Jan a make-up day
    overrides.write_text(
        yaml.safe_dump({"years": {2027: {"holidays": ["2027-01-01"], "workdays": ["2027-01-09"]}}})
    )
    cal = WorkCalendar(overrides)
    assert cal.knows_year(2027)
    assert not cal.is_workday(dt.date(2027, 1, 1))
    assert cal.is_workday(dt.date(2027, 1, 4))
    assert cal.is_workday(dt.date(2027, 1, 9))
    # Thu 31 Dec 2026 10:00 -> next working day Mon 4 Jan 2027 (Fri 1 Jan off, weekend off)
    assert working_day_deadline(T(2026, 12, 31, 10), 1, RULE, cal) == T(2027, 1, 4, 10)
    # Fri 8 Jan 15:00 -> make-up Sat 9 Jan 15:00
    assert add_working_days(T(2027, 1, 8, 15), 1, cal) == T(2027, 1, 9, 15)
    df = pd.DataFrame(
        {
            "pdsj": [T(2027, 1, 8, 15)],
            "sclxsj": [pd.NaT],
            "blyjsj": [T(2027, 1, 9, 15)],
            "bjsj": [pd.NaT],
        }
    )
    out = evaluate_response_frame(df, T(2027, 1, 9, 16), RULE, cal)
    assert results(out, 0) == (False, True, None)  # never contacted, 2 h long gone
    assert not out.loc[0, "sla_calendar_unknown"]


def test_override_file_is_strict(tmp_path: Path) -> None:
    bad = tmp_path / "o.yml"
    bad.write_text("years:\n  2027:\n    holidays: [2028-01-03]\n")
    with pytest.raises(ValueError, match="another year"):
        WorkCalendar(bad)
    bad.write_text("years:\n  2027:\n    holiday: [2027-01-01]\n")
    with pytest.raises(ValueError, match="only `holidays` and `workdays`"):
        WorkCalendar(bad)


def test_rule_from_region_yml() -> None:
    region = yaml.safe_load(REGION_YML.read_text(encoding="utf-8"))
    assert ResponseRule.from_region(region) == ResponseRule(2, 1, 15, "next_working_day_midnight")
    assert ResponseRule.from_region({}) == ResponseRule()
    with pytest.raises(ValueError, match="unknown keys"):
        ResponseRule.from_region({"response_rule": {"contact_hour": 2}})
    with pytest.raises(ValueError, match="non_working_day_start"):
        ResponseRule(non_working_day_start="midnight")


def test_timezone_aware_input_is_read_as_shanghai_time(cal: WorkCalendar) -> None:
    utc = dt.UTC
    pdsj = T(2026, 10, 9, 7, tzinfo=utc)  # 15:00 in Shanghai
    got = evaluate_response(
        pdsj, None, T(2026, 10, 10, 7, tzinfo=utc), None, T(2026, 10, 11), RULE, cal
    )
    assert got[1] is True


@pytest.mark.parametrize("rule", [RULE, AS_IS], ids=["midnight", "as_is"])
def test_frame_agrees_with_single_order(cal: WorkCalendar, rule: ResponseRule) -> None:
    # Random orders around holidays, the year end and into unknown 2027.
    rng = random.Random(7)
    base = T(2026, 9, 1)
    rows = []
    for _ in range(400):
        pdsj = base + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 160))
        events = [
            None
            if rng.random() < 0.3
            else pdsj + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 30))
            for _ in range(3)
        ]
        rows.append([pdsj if rng.random() > 0.05 else None, *events])
    df = pd.DataFrame(rows, columns=["pdsj", "sclxsj", "blyjsj", "bjsj"]).astype("datetime64[us]")
    now = T(2026, 12, 20, 12)
    out = evaluate_response_frame(df, now, rule, cal)
    for i, row in enumerate(rows):
        expected = evaluate_response(row[0], row[1], row[2], row[3], now, rule, cal)
        got = results(out, i)
        assert got == expected, (row, got, expected)


def _moments(df: pd.DataFrame, cal: WorkCalendar) -> object:
    return response_changes(df, RULE, cal)[1]


def test_results_alike_between_an_open_orders_deadlines(cal: WorkCalendar) -> None:
    # dispatched Wed 30 Sep 16:00, nothing happened: contact due 18:00, proposal Thu 8 Oct
    # 16:00, solution Tue 27 Oct 16:00; an order with every event done changes never
    df = pd.DataFrame({"pdsj": [T(2026, 9, 30, 16), T(2026, 9, 30, 16), pd.NaT],
                       "sclxsj": [pd.NaT, T(2026, 9, 30, 17), pd.NaT],
                       "blyjsj": [pd.NaT, T(2026, 10, 8, 9), pd.NaT],
                       "bjsj": [pd.NaT, T(2026, 10, 9, 9), pd.NaT]}).astype("datetime64[us]")
    rows, moments = response_changes(df, RULE, cal)
    assert sorted(rows.tolist()) == [0, 0, 0]
    after, until = judged_alike(moments, T(2026, 10, 9, 12))
    assert (after, until) == (np.datetime64(T(2026, 10, 8, 16)), np.datetime64(T(2026, 10, 27, 16)))
    assert judged_alike(moments, T(2026, 9, 30, 18)) == (None, np.datetime64(T(2026, 9, 30, 18)))
    assert judged_alike(moments, T(2026, 11, 1)) == (np.datetime64(T(2026, 10, 27, 16)), None)
    assert judged_alike(_moments(df.iloc[1:], cal), T(2026, 10, 9)) == (None, None)


def test_results_alike_within_the_interval_and_not_beyond(cal: WorkCalendar) -> None:
    # random orders around holidays and into unknown 2027: judged at any moment of the
    # interval the results equal those at `now`; in the known calendar (every moment a
    # deadline), just outside either end some differ
    rng = random.Random(11)
    rows = []
    for _ in range(300):
        pdsj = T(2026, 9, 1) + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 150))
        rows.append([pdsj, *(None if rng.random() < 0.6 else
                             pdsj + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 20))
                             for _ in range(3))])
    df = pd.DataFrame(rows, columns=["pdsj", "sclxsj", "blyjsj", "bjsj"]).astype("datetime64[us]")
    moments = _moments(df, cal)
    tick = dt.timedelta(microseconds=1)
    for now in (T(2026, 10, 9, 12), T(2026, 12, 31, 23), T(2027, 1, 15), T(2027, 3, 1)):
        at_now = evaluate_response_frame(df, now, RULE, cal)
        after, until = judged_alike(moments, now)
        assert after is not None
        lo = after.astype(dt.datetime)
        hi = now + dt.timedelta(days=400) if until is None else until.astype(dt.datetime)
        for t in (lo + tick, hi, lo + (hi - lo) / 3):
            assert evaluate_response_frame(df, t, RULE, cal).equals(at_now), (now, t)
        for t in (lo, hi + tick) if now.year == 2026 and hi.year == 2026 else ():
            assert not evaluate_response_frame(df, t, RULE, cal).equals(at_now), (now, t)
