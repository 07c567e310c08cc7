"""What a reader gives back, and which failures are this machine's rather than the file's."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd


@dataclass
class RawDelivery:
    frame: pd.DataFrame  # a GeoDataFrame for vector formats
    row_numbers: pd.Series  # what the department sees: spreadsheet row or feature number
    notes: dict[str, Any] = field(default_factory=dict)
    # the parsing child's peak resident memory (MB); None when parsed in this process
    peak_rss_mb: float | None = field(default=None, compare=False)

    @property
    def is_vector(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame)


# Faults of this machine, never answered to a department as "your file is unreadable".
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE, errno.ENFILE,
                   errno.EIO, errno.EACCES, errno.EPERM, errno.ENOMEM}


def machine_fault(exc: BaseException) -> bool:
    """Out of memory, disk or file handles, or refused by permissions: retry or fix the
    machine, and leave the drop pending. (A parse that outgrows the reading child's own
    ceiling is the file's fault: that child answers `too_large` instead.)"""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS
