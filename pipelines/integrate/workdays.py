"""The 12345 response-time rule ("2115") counted in official working days.

Working days follow the State Council's holiday and make-up-day calendar: the
`chinesecalendar` package plus `calendar_overrides.yml` for years it does not know yet.
A year neither knows is never guessed with plain weekends: its deadlines are reported as
unknown (None, and `sla_calendar_unknown` in the frame) until the calendar is added.

Clock semantics (DATASETS.md, "complaints"):
- All three clocks start at dispatch `PDSJ`.
- Contact: `SCLXSJ - PDSJ <= contact_hours` of clock time, whatever the day.
- "Within N working days of T" ends at T's clock time on the N-th working day after T's date.
- With `non_working_day_start: next_working_day_midnight`, a dispatch on a day off starts the
  working-day clocks at S = 00:00 of the next working day W; the deadline is
  add_working_days(S, N), i.e. 00:00 of the N-th working day after W. The whole of W counts
  as the first working day, so a Saturday dispatch has all of Monday for its proposal
  (deadline Tuesday 00:00 in an ordinary week) — the same 24 working hours a weekday
  dispatch gets.
- An event at exactly the deadline is in time; an order still open when `now` is past the
  deadline has missed it; one whose deadline is still ahead is not yet due (None).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pipelines.integrate.calendar import (
    LOCAL_TZ,
    SLA_COLUMNS,
    CalendarYearUnknown,
    ResponseRule,
    WorkCalendar,
    add_working_days,
    local_naive,
)

_DAY = np.timedelta64(1, "D")
__all__ = ["SLA_COLUMNS", "CalendarYearUnknown", "ResponseRule", "WorkCalendar",
           "add_working_days", "evaluate_response_frame", "judged_alike", "response_changes",
           "row_intervals", "solved_deadlines"]

# --- a frame of work orders ---------------------------------------------------------------


def _to_local_us(values: pd.Series) -> np.ndarray:
    """Naive local datetime64[us] (NaT = not happened) from a datetime-like column."""
    series = values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return np.asarray(series.to_numpy(dtype="datetime64[us]"))


class _DayTable:
    """The calendar over the dates a frame needs, as arrays: a running count of working days
    makes "the n-th working day after date i" one searchsorted, so 1M rows cost a few array
    lookups per distinct dispatch date instead of a Python walk over the calendar per row.
    """

    def __init__(self, cal: WorkCalendar, first: np.datetime64, last: np.datetime64) -> None:
        self.first = first
        self.days = np.arange(first, last + _DAY, _DAY)
        known = np.zeros(len(self.days), dtype=bool)
        work = np.zeros(len(self.days), dtype=bool)
        first_year, last_year = (
            int(x.astype("datetime64[Y]").astype(int)) + 1970 for x in (first, last)
        )
        for year in range(first_year, last_year + 1):
            flags = cal.year_workdays(year)
            if flags is None:
                continue
            year_start = np.datetime64(f"{year:04d}-01-01", "D")
            lo, hi = np.searchsorted(
                self.days, [year_start, np.datetime64(f"{year + 1:04d}-01-01", "D")]
            )
            offset = int((self.days[lo] - year_start) / _DAY) if hi > lo else 0
            known[lo:hi] = True
            work[lo:hi] = flags[offset : offset + hi - lo]
        self.known = known
        self.work = work & known
        # count of working days up to and including each date; unknown days add nothing
        self.count = np.cumsum(self.work)
        self.unknown_at = np.flatnonzero(~known)

    def nth_after(self, idx: np.ndarray, n: int) -> np.ndarray:
        """Index of the n-th working day after each idx (len(days) if beyond the table)."""
        return np.asarray(np.searchsorted(self.count, self.count[idx] + n, side="left"))

    def first_unknown_from(self, idx: np.ndarray) -> np.ndarray:
        """Index of the first unknown day at or after idx (len(days) if none)."""
        pos = np.searchsorted(self.unknown_at, idx, side="left")
        padded = np.append(self.unknown_at, len(self.days))
        return padded[pos]


def _working_day_deadlines(
    pdsj: np.ndarray, n: int, rule: ResponseRule, cal: WorkCalendar
) -> tuple[np.ndarray, np.ndarray]:
    """(deadline, bound) per row: deadline NaT where the calendar is unknown, then `bound`
    (the latest time known to be in time) is set instead. Rows with NaT PDSJ get NaT."""
    deadline = np.full(len(pdsj), np.datetime64("NaT"), dtype="datetime64[us]")
    bound = deadline.copy()
    present = ~np.isnat(pdsj)
    if not present.any():
        return deadline, bound
    p = pdsj[present]
    p_day = p.astype("datetime64[D]")
    uniq_days, row_pos = np.unique(p_day, return_inverse=True)
    # margin: n working days never need more than ~2n + a Spring Festival of calendar days
    margin = 2 * n + 60
    while True:
        table = _DayTable(cal, uniq_days[0], uniq_days[-1] + np.timedelta64(margin, "D"))
        i = ((uniq_days - table.first) / _DAY).astype(np.int64)
        by_midnight = rule.non_working_day_start == "next_working_day_midnight"
        if by_midnight:
            # a day off (or an unknown day) moves the start to the next working day's midnight
            shifted = ~table.work[i]
            start = np.where(shifted, table.nth_after(i, 1), i)
            first_needed = i  # the dispatch day's own status is needed
        else:
            shifted = np.zeros(len(i), dtype=bool)
            start = i
            first_needed = i + 1
        start_in = np.minimum(start, len(table.days) - 1)
        end = np.where(start < len(table.days), table.nth_after(start_in, n), len(table.days))
        unknown_day = table.first_unknown_from(first_needed)
        unknown = unknown_day <= end
        if not (~unknown & (end >= len(table.days))).any():
            break
        margin *= 2  # a calendar with improbably long holidays: widen and retry
    end_day = table.days[np.minimum(end, len(table.days) - 1)]
    gap_day = table.days[np.minimum(unknown_day, len(table.days) - 1)]

    clock = p - p_day  # time of day of PDSJ
    row_shifted = shifted[row_pos]
    row_unknown = unknown[row_pos]
    d = end_day[row_pos] + np.where(row_shifted, np.timedelta64(0, "us"), clock)
    b = np.maximum(gap_day[row_pos].astype("datetime64[us]"), p)
    deadline[present] = np.where(row_unknown, np.datetime64("NaT"), d)
    bound[present] = np.where(row_unknown, b, np.datetime64("NaT"))
    return deadline, bound


def _judge_arrays(
    event: np.ndarray,
    deadline: np.ndarray,
    bound: np.ndarray,
    pdsj_ok: np.ndarray,
    now: np.datetime64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value, is_null, calendar_blocked) arrays for one clock."""
    happened = ~np.isnat(event)
    known = ~np.isnat(deadline)
    with np.errstate(invalid="ignore"):
        in_time = happened & known & (event <= deadline)
        missed = known & ((happened & (event > deadline)) | (~happened & (now > deadline)))
        # unknown calendar: an event up to the bound is certainly in time
        early = ~known & happened & (event <= bound)
    unknown = pdsj_ok & ~known
    blocked = unknown & ~early & (happened | (now > bound))
    value = in_time | early
    is_null = ~(in_time | missed | early) | ~pdsj_ok
    return value, is_null, blocked


def solved_deadlines(pdsj: pd.Series, rule: ResponseRule, cal: WorkCalendar) -> pd.Series:
    """Each order's "solved within N working days" deadline (NaT: no dispatch, or a year the
    calendar does not know), indexed like `pdsj`: when an order falls due, for the quarterly
    assessment's resolution rate."""
    deadline, _ = _working_day_deadlines(_to_local_us(pdsj), rule.solved_working_days, rule, cal)
    return pd.Series(deadline, index=pdsj.index, dtype="datetime64[us]")


def _clocks(
    df: pd.DataFrame, rule: ResponseRule, cal: WorkCalendar
) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """(pdsj, [(event, deadline, bound) of each clock in SLA_COLUMNS order])."""
    pdsj = _to_local_us(df["pdsj"])
    events = {c: _to_local_us(df[c]) for c in ("sclxsj", "blyjsj", "bjsj")}
    no_bound = np.full(len(pdsj), np.datetime64("NaT"), dtype="datetime64[us]")
    contact_limit = np.timedelta64(int(round(rule.contact_hours * 3_600_000_000)), "us")
    clocks = [(events["sclxsj"], pdsj + contact_limit, no_bound)]
    for column, n in (("blyjsj", rule.proposal_working_days), ("bjsj", rule.solved_working_days)):
        deadline, bound = _working_day_deadlines(pdsj, n, rule, cal)
        clocks.append((events[column], deadline, bound))
    return pdsj, clocks


def response_changes(
    df: pd.DataFrame, rule: ResponseRule, cal: WorkCalendar
) -> tuple[np.ndarray, np.ndarray]:
    """(row position, moment) of every moment at which a row's results change as `now`
    passes it: in `_judge_arrays` `now` only enters as `now > deadline` for an event not yet
    happened (due -> missed) and `now > bound` where the calendar is unknown (-> blocked).
    So the results of every row are the same for any two `now`s with no such moment in
    between (see `judged_alike`). Some moments change nothing (a second bound once the
    first has set `sla_calendar_unknown`): an interval may be shorter than it could be,
    never longer."""
    pdsj, clocks = _clocks(df, rule, cal)
    rows, moments = [], []
    for event, deadline, bound in clocks:
        open_ = np.isnat(event) & ~np.isnat(pdsj)
        at = np.where(np.isnat(deadline), bound, deadline)
        picked = np.flatnonzero(open_ & ~np.isnat(at))
        rows.append(picked)
        moments.append(at[picked])
    return np.concatenate(rows), np.concatenate(moments).astype("datetime64[us]")


def judged_alike(
    moments: np.ndarray, now: dt.datetime
) -> tuple[np.datetime64 | None, np.datetime64 | None]:
    """(after, until): results judged at `now` are the same at any `t` with
    after < t <= until (None: unbounded), given the `response_changes` moments."""
    now64 = np.datetime64(local_naive(now), "us")
    before, since = moments[moments < now64], moments[moments >= now64]
    return (before.max() if len(before) else None, since.min() if len(since) else None)


def row_intervals(
    df: pd.DataFrame, now: dt.datetime, rule: ResponseRule, cal: WorkCalendar
) -> tuple[np.ndarray, np.ndarray]:
    """(after, until) per row, datetime64[us] (NaT: unbounded): the row's results judged at
    `now` are the same judged at any `t` with after < t <= until. `judged_alike` of each
    row's own `response_changes` moments, so that a row enriched once is kept while "now"
    moves within its own interval, whatever the other orders of its partition do."""
    at, moments = response_changes(df, rule, cal)
    now64 = np.datetime64(local_naive(now), "us")
    stamps = moments.view(np.int64)
    # NaT is int64's minimum: the greatest moment before `now` wins over it; for `until`
    # the least moment from `now` on wins over int64's maximum, then made NaT again
    after = np.full(len(df), np.iinfo(np.int64).min, dtype=np.int64)
    until = np.full(len(df), np.iinfo(np.int64).max, dtype=np.int64)
    before = moments < now64
    np.maximum.at(after, at[before], stamps[before])
    np.minimum.at(until, at[~before], stamps[~before])
    until[until == np.iinfo(np.int64).max] = np.iinfo(np.int64).min
    return after.view("datetime64[us]"), until.view("datetime64[us]")


def evaluate_response_frame(
    df: pd.DataFrame, now: dt.datetime, rule: ResponseRule, cal: WorkCalendar
) -> pd.DataFrame:
    """The three response results per work order, indexed like `df`.

    Input columns `pdsj`, `sclxsj`, `blyjsj`, `bjsj`: naive Asia/Shanghai datetimes (aware
    ones are converted), NaT = not happened. `sla_calendar_unknown` is True where a result
    is None only because the calendar lacks a year; adding that year would settle it.
    """
    pdsj, clocks = _clocks(df, rule, cal)
    now64 = np.datetime64(local_naive(now), "us")
    pdsj_ok = ~np.isnat(pdsj)
    results = [_judge_arrays(event, deadline, bound, pdsj_ok, now64)
               for event, deadline, bound in clocks]

    out = pd.DataFrame(index=df.index)
    for name, (value, is_null, _) in zip(SLA_COLUMNS, results, strict=True):
        out[name] = pd.arrays.BooleanArray(value, is_null)
    out["sla_calendar_unknown"] = results[1][2] | results[2][2]
    return out
