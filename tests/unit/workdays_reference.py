"""The response rule for one work order at a time, written as plainly as the rule reads:
the oracle `evaluate_response_frame` (the vectorised one the pipeline runs) is checked
against."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from pipelines.integrate.calendar import (
    CalendarYearUnknown,
    ResponseRule,
    WorkCalendar,
    add_working_days,
    local_naive,
)


def _event(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None or value is pd.NaT else local_naive(value)


def working_day_deadline(
    pdsj: dt.datetime, n: int, rule: ResponseRule, cal: WorkCalendar
) -> dt.datetime:
    """Deadline of an n-working-day clock for a dispatch at PDSJ (may raise CalendarYearUnknown)."""
    start = pdsj
    if rule.non_working_day_start == "next_working_day_midnight" and not cal.is_workday(
        pdsj.date()
    ):
        day = pdsj.date() + dt.timedelta(days=1)
        while not cal.is_workday(day):
            day += dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time())
    return add_working_days(start, n, cal)


def _judge(event: dt.datetime | None, deadline: dt.datetime, now: dt.datetime) -> bool | None:
    if event is not None:
        return event <= deadline
    return False if now > deadline else None


def _judge_working_days(
    pdsj: dt.datetime,
    event: dt.datetime | None,
    n: int,
    now: dt.datetime,
    rule: ResponseRule,
    cal: WorkCalendar,
) -> bool | None:
    try:
        deadline = working_day_deadline(pdsj, n, rule, cal)
    except CalendarYearUnknown as gap:
        # The deadline lies after PDSJ and at or after the first unknown day's midnight, so
        # an event up to that bound is in time whatever the missing calendar says.
        bound = max(pdsj, dt.datetime.combine(gap.day, dt.time()))
        if event is not None and event <= bound:
            return True
        return None
    return _judge(event, deadline, now)


def evaluate_response(
    pdsj: dt.datetime | None,
    sclxsj: dt.datetime | None,
    blyjsj: dt.datetime | None,
    bjsj: dt.datetime | None,
    now: dt.datetime,
    rule: ResponseRule,
    cal: WorkCalendar,
) -> tuple[bool | None, bool | None, bool | None]:
    """(contact_within_2h, proposal_within_1wd, solved_within_15wd) for one work order."""
    if pdsj is None or pdsj is pd.NaT:
        return None, None, None
    pdsj = local_naive(pdsj)
    now = local_naive(now)
    contact, proposal, solved = (_event(x) for x in (sclxsj, blyjsj, bjsj))
    return (
        _judge(contact, pdsj + dt.timedelta(hours=rule.contact_hours), now),
        _judge_working_days(pdsj, proposal, rule.proposal_working_days, now, rule, cal),
        _judge_working_days(pdsj, solved, rule.solved_working_days, now, rule, cal),
    )


