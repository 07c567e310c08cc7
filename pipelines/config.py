"""Where yitu keeps things, read from the environment once per call site."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


class UsageError(Exception):
    """The user asked for something that cannot be: the CLI says why and exits 2."""


class PiiKeyMissing(RuntimeError):
    """No key for personal-data tokens; never fall back to storing clear text. (Here, with
    the other configuration errors the CLI answers with exit 2, so it can name it without
    importing `pipelines.pii`, which imports pandas; `pipelines.pii` exports it.)"""


@dataclass(frozen=True)
class Settings:
    """`home` (YITU_HOME) is what every worker of a deployment shares: landing/, raw/,
    quarantine/, reports/. `scratch` (YITU_SCRATCH, default `home`) is this machine's own.
    An integration run's staged frames live in the PostGIS warehouse (its `staging` schema);
    only the embedded GeoPackage warehouse, which one machine runs, stages them in
    `scratch/staging/`."""

    home: Path
    warehouse_url: str
    pii_key: str | None
    scratch_dir: Path | None = None
    # Alerts (pipelines.alerts): a mail server (smtp://host:port, smtps://user:pass@host:port)
    # and its sender, and a webhook that takes each alert as JSON. Unset: that channel is off.
    smtp_url: str | None = None
    alert_from: str = "yitu@localhost"
    alert_webhook: str | None = None

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
    def scratch(self) -> Path:
        return self.scratch_dir or self.home

    @property
    def staging(self) -> Path:
        """The embedded warehouse's staged integration runs (`warehouse.staging`)."""
        return self.scratch / "staging"

    @property
    def embedded(self) -> bool:
        return self.warehouse_url.startswith("gpkg:")


def settings() -> Settings:
    home = Path(os.environ.get("YITU_HOME", "var")).resolve()
    url = os.environ.get("YITU_WAREHOUSE_URL") or f"gpkg:///{home / 'warehouse.gpkg'}"
    scratch = os.environ.get("YITU_SCRATCH")
    return Settings(home=home, warehouse_url=url, pii_key=os.environ.get("YITU_PII_KEY") or None,
                    scratch_dir=Path(scratch).resolve() if scratch else None,
                    smtp_url=os.environ.get("YITU_SMTP_URL") or None,
                    alert_from=os.environ.get("YITU_ALERT_FROM") or "yitu@localhost",
                    alert_webhook=os.environ.get("YITU_ALERT_WEBHOOK") or None)
