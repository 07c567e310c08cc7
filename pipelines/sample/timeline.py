"""When 12345 work orders happen: calls around National Day 2026 and the handling clock.

The window crosses Mid-Autumn (2026-09-25..27), National Day (10-01..07) and their make-up
working days (Sunday 09-20, Saturday 10-10), which the 2115 deadlines must respect.
"""

from __future__ import annotations

import chinese_calendar
import numpy as np
import pandas as pd

from pipelines.sample.topics import HOURLY

FIRST_DAY, LAST_DAY = pd.Timestamp("2026-09-20"), pd.Timestamp("2026-11-15")
EXPORTED_AT = pd.Timestamp("2026-11-16 09:30:00")  # later steps have not happened yet


def accepted_at(rng: np.random.Generator, n: int) -> pd.DatetimeIndex:
    """Call times: fewer on weekends and holidays (National Day, Mid-Autumn), more on workdays."""
    days = pd.date_range(FIRST_DAY, LAST_DAY, freq="D")
    weight = np.array([1.0 if chinese_calendar.is_workday(d.date()) else 0.7 for d in days])
    day = rng.choice(days.size, n, p=weight / weight.sum())
    hour = rng.choice(24, n, p=np.array(HOURLY) / sum(HOURLY))
    seconds = hour * 3600 + rng.integers(0, 3600, n)
    return pd.DatetimeIndex(np.sort(days.values[day] + seconds.astype("timedelta64[s]")))


def handling_times(rng: np.random.Generator, slsj: pd.DatetimeIndex) -> pd.DataFrame:
    """Dispatch, first contact, proposal and closure in order; blank when after the export."""
    n = slsj.size
    pdsj = slsj + pd.to_timedelta(np.clip(rng.lognormal(np.log(30), 1.0, n), 2, 1200), "min")
    late = rng.random(n) < 0.13  # the "2" of 2115 is missed now and then
    contact = np.where(late, rng.uniform(130, 2400, n), rng.uniform(3, 115, n))
    sclxsj = pdsj + pd.to_timedelta(contact, "min")
    slow = rng.random(n) < 0.15
    blyjsj = sclxsj + pd.to_timedelta(
        np.where(slow, rng.uniform(24, 120, n), rng.uniform(1, 24, n)), "h"
    )
    bjsj = blyjsj + pd.to_timedelta(np.clip(rng.lognormal(np.log(72), 0.9, n), 2, 720), "h")
    out = pd.DataFrame({"PDSJ": pdsj, "SCLXSJ": sclxsj, "BLYJSJ": blyjsj, "BJSJ": bjsj})
    out = out.apply(lambda col: col.dt.floor("s"))
    return out.mask(out > EXPORTED_AT)
