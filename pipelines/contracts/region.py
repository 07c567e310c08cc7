"""The region yitu serves (`schemas/region.yml`): its counties, extent, zones and rules."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml
from pydantic import Field

from pipelines.contracts.base import Contact, Strict, schema_dir


class County(Strict):
    code: str
    name: str
    seat: tuple[float, float]


class Extent(Strict):
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


class Targets(Strict):
    """What the quarterly assessment holds each county to (省营商环境评价: 12345 满意率 95%+)."""

    satisfaction_rate: float = Field(ge=0, le=1)
    resolution_rate: float = Field(ge=0, le=1)
    # 万家投诉比: at most this many complaints per 10,000 licensed business entities
    complaints_per_10k: float = Field(ge=0)


class Region(Strict):
    region: str
    province_code: str
    extent: Extent
    gk_zones: tuple[int, ...]
    response_rule: dict[str, float | int | str]
    counties: tuple[County, ...]
    targets: Targets
    # The data-quality monitors: told of every alert (see pipelines.alerts).
    monitors: tuple[Contact, ...] = ()

    @property
    def county_codes(self) -> tuple[str, ...]:
        return tuple(c.code for c in self.counties)

    def county_name(self, code: str) -> str | None:
        return next((c.name for c in self.counties if c.code == code), None)



@cache
def _load_region(folder: Path) -> Region:
    raw = yaml.safe_load((folder / "region.yml").read_text(encoding="utf-8"))
    return Region.model_validate(raw)


def load_region(folder: Path | None = None) -> Region:
    return _load_region(folder or schema_dir())
