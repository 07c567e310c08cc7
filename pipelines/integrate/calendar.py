"""The official working-day calendar and the region's 12345 response rule ("2115").

Working days follow the State Council's holiday and make-up-day calendar: the
`chinesecalendar` package plus `calendar_overrides.yml` for years it does not know yet.
A year neither knows is never guessed with plain weekends: its deadlines are reported as
unknown (None, and `sla_calendar_unknown` in the frame) until the calendar is added.
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


def local_naive(value: dt.datetime) -> dt.datetime:
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if value.tzinfo is not None:
        return value.astimezone(LOCAL_TZ).replace(tzinfo=None)
    return value


