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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import numpy as np
import pandas as pd
import yaml

DEFAULT_OVERRIDES = Path(__file__).with_name("calendar_overrides.yml")
LOCAL_TZ = ZoneInfo("Asia/Shanghai")  # PDSJ etc. are local clock times of the hotline
START_MODES = ("next_working_day_midnight", "as_is")
SLA_COLUMNS = ("contact_within_2h", "proposal_within_1wd", "solved_within_15wd")

_DAY = np.timedelta64(1, "D")


class CalendarYearUnknown(LookupError):
    """A working-day question about a year whose official schedule is not known."""

    def __init__(self, day: dt.date) -> None:
        super().__init__(
            f"working-day calendar unknown for {day.year} (asked about {day.isoformat()}): "
            f"add the State Council's {day.year} schedule to {DEFAULT_OVERRIDES.name} "
            "or upgrade chinesecalendar"
        )
        self.day = day  # the first unknown day met; deadlines lie at or after its midnight


@dataclass(frozen=True)
class _YearOverride:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]


def _as_date(value: object, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        raise ValueError(f"{where}: {value!r} is a datetime, expected a date")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip())
    raise ValueError(f"{where}: {value!r} is not a date")


def load_overrides(path: Path) -> dict[int, _YearOverride]:
    """Parse the override file strictly: a typo must fail loudly, not shift deadlines."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict) or set(doc) - {"years"}:
        raise ValueError(f"{path}: expected a single top-level `years:` mapping")
    years = doc.get("years") or {}
    if not isinstance(years, dict):
        raise ValueError(f"{path}: `years` must map a year to its holidays and workdays")
    out: dict[int, _YearOverride] = {}
    for year_key, entry in years.items():
        year = int(year_key)
        entry = entry or {}
        if not isinstance(entry, dict) or set(entry) - {"holidays", "workdays"}:
            raise ValueError(f"{path}: year {year} takes only `holidays` and `workdays` lists")
        lists: dict[str, frozenset[dt.date]] = {}
        for field in ("holidays", "workdays"):
            days = frozenset(_as_date(v, f"{path}: {year}.{field}") for v in entry.get(field) or [])
            wrong_year = sorted(d for d in days if d.year != year)
            if wrong_year:
                raise ValueError(f"{path}: {year}.{field} lists {wrong_year[0]} of another year")
            lists[field] = days
        both = lists["holidays"] & lists["workdays"]
        if both:
            raise ValueError(f"{path}: {year} lists {min(both)} as both holiday and workday")
        out[year] = _YearOverride(lists["holidays"], lists["workdays"])
    return out


class WorkCalendar:
    """Official working days: chinesecalendar, plus override entries per year."""

    def __init__(self, overrides_path: Path | None = None) -> None:
        self._overrides = load_overrides(overrides_path or DEFAULT_OVERRIDES)
        self._years: dict[int, np.ndarray | None] = {}  # year -> workday flag per day of year

    def _package_knows(self, year: int) -> bool:
        try:
            chinese_calendar.is_workday(dt.date(year, 1, 1))
        except NotImplementedError:
            return False
        return True

    def year_workdays(self, year: int) -> np.ndarray | None:
        """Workday flag for each day of `year` (index = day of year - 1), None if unknown."""
        if year not in self._years:
            self._years[year] = self._compute_year(year)
        return self._years[year]

    def _compute_year(self, year: int) -> np.ndarray | None:
        override = self._overrides.get(year)
        in_package = self._package_knows(year)
        if override is None and not in_package:
            return None
        first = dt.date(year, 1, 1)
        days = [first + dt.timedelta(days=i) for i in range((dt.date(year + 1, 1, 1) - first).days)]
        if in_package:
            flags = [bool(chinese_calendar.is_workday(d)) for d in days]
        else:
            flags = [d.weekday() < 5 for d in days]
        if override is not None:
            # the override is applied on top: it is the official list for an unknown year,
            # or a local amendment to a year the package knows
            flags = [
                (d in override.workdays) or (flag and d not in override.holidays)
                for d, flag in zip(days, flags, strict=True)
            ]
        return np.array(flags, dtype=bool)

    def knows_year(self, year: int) -> bool:
        return self.year_workdays(year) is not None

    def is_workday(self, d: dt.date) -> bool:
        if isinstance(d, dt.datetime):
            d = d.date()
        flags = self.year_workdays(d.year)
        if flags is None:
            raise CalendarYearUnknown(d)
        return bool(flags[d.timetuple().tm_yday - 1])


def add_working_days(t: dt.datetime, n: int, cal: WorkCalendar) -> dt.datetime:
    """T's clock time on the n-th working day after T's date (T's own date never counts)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    day = t.date()
    remaining = n
    while remaining:
        day += dt.timedelta(days=1)
        if cal.is_workday(day):
            remaining -= 1
    return dt.datetime.combine(day, t.time())


@dataclass(frozen=True)
class ResponseRule:
    contact_hours: float = 2
    proposal_working_days: int = 1
    solved_working_days: int = 15
    non_working_day_start: str = "next_working_day_midnight"

    def __post_init__(self) -> None:
        if not isinstance(self.contact_hours, int | float) or self.contact_hours <= 0:
            raise ValueError(f"contact_hours must be positive, got {self.contact_hours}")
        for name in ("proposal_working_days", "solved_working_days"):
            value = getattr(self, name)
            # >= 1 also guarantees every working-day deadline lies strictly after PDSJ
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")
        if self.non_working_day_start not in START_MODES:
            raise ValueError(
                f"non_working_day_start must be one of {START_MODES}, "
                f"got {self.non_working_day_start!r}"
            )

    @classmethod
    def from_region(cls, mapping: Mapping[str, Any]) -> ResponseRule:
        """The `response_rule` block of schemas/region.yml; a region without one gets 2115."""
        block = mapping.get("response_rule") or {}
        if not isinstance(block, Mapping):
            raise ValueError("response_rule must be a mapping")
        unknown = set(block) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"response_rule: unknown keys {sorted(unknown)}")
        return cls(**dict(block))


# --- one work order ---------------------------------------------------------------------


def _local_naive(value: dt.datetime) -> dt.datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is not None:
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return value


def _event(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None or value is pd.NaT else _local_naive(value)


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
    pdsj = _local_naive(pdsj)
    now = _local_naive(now)
    contact, proposal, solved = (_event(x) for x in (sclxsj, blyjsj, bjsj))
    return (
        _judge(contact, pdsj + dt.timedelta(hours=rule.contact_hours), now),
        _judge_working_days(pdsj, proposal, rule.proposal_working_days, now, rule, cal),
        _judge_working_days(pdsj, solved, rule.solved_working_days, now, rule, cal),
    )


# --- a frame of work orders ---------------------------------------------------------------


def _to_local_us(values: pd.Series) -> np.ndarray:
    """Naive local datetime64[us] (NaT = not happened) from a datetime-like column."""
    series = values if pd.api.types.is_datetime64_any_dtype(values) else pd.to_datetime(values)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert(LOCAL_TZ).dt.tz_localize(None)
    return series.to_numpy(dtype="datetime64[us]")


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
        return np.searchsorted(self.count, self.count[idx] + n, side="left")

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


def evaluate_response_frame(
    df: pd.DataFrame, now: dt.datetime, rule: ResponseRule, cal: WorkCalendar
) -> pd.DataFrame:
    """The three response results per work order, indexed like `df`.

    Input columns `pdsj`, `sclxsj`, `blyjsj`, `bjsj`: naive Asia/Shanghai datetimes (aware
    ones are converted), NaT = not happened. `sla_calendar_unknown` is True where a result
    is None only because the calendar lacks a year; adding that year would settle it.
    """
    pdsj = _to_local_us(df["pdsj"])
    events = {c: _to_local_us(df[c]) for c in ("sclxsj", "blyjsj", "bjsj")}
    now64 = np.datetime64(_local_naive(now), "us")
    pdsj_ok = ~np.isnat(pdsj)
    no_bound = np.full(len(pdsj), np.datetime64("NaT"), dtype="datetime64[us]")

    contact_limit = np.timedelta64(int(round(rule.contact_hours * 3_600_000_000)), "us")
    results = [_judge_arrays(events["sclxsj"], pdsj + contact_limit, no_bound, pdsj_ok, now64)]
    for column, n in (("blyjsj", rule.proposal_working_days), ("bjsj", rule.solved_working_days)):
        deadline, bound = _working_day_deadlines(pdsj, n, rule, cal)
        results.append(_judge_arrays(events[column], deadline, bound, pdsj_ok, now64))

    out = pd.DataFrame(index=df.index)
    for name, (value, is_null, _) in zip(SLA_COLUMNS, results, strict=True):
        out[name] = pd.arrays.BooleanArray(value, is_null)
    out["sla_calendar_unknown"] = results[1][2] | results[2][2]
    return out
