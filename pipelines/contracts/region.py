"""The region yitu serves (`schemas/region.yml`): its counties, extent, zones and rules."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from pipelines.contracts.base import Strict, schema_dir


class County(Strict):
    code: str
    name: str
    seat: tuple[float, float]


class Extent(Strict):
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float


class Region(Strict):
    region: str
    province_code: str
    extent: Extent
    gk_zones: tuple[int, ...]
    response_rule: dict[str, float | int | str]
    counties: tuple[County, ...]

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
