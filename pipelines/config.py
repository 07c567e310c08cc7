"""Where yitu keeps things, read from the environment once per call site."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class UsageError(Exception):
    """The user asked for something that cannot be: the CLI says why and exits 2."""


@dataclass(frozen=True)
class Settings:
    home: Path
    warehouse_url: str
    pii_key: str | None

    @property
    def landing(self) -> Path:
        return self.home / "landing"

    @property
    def raw(self) -> Path:
        return self.home / "raw"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def reports(self) -> Path:
        return self.home / "reports"

    @property
    def staging(self) -> Path:
        return self.home / "staging"

    @property
    def embedded(self) -> bool:
        return self.warehouse_url.startswith("gpkg:")


def settings() -> Settings:
    home = Path(os.environ.get("YITU_HOME", "var")).resolve()
    url = os.environ.get("YITU_WAREHOUSE_URL") or f"gpkg:///{home / 'warehouse.gpkg'}"
    return Settings(home=home, warehouse_url=url, pii_key=os.environ.get("YITU_PII_KEY") or None)
