"""The sample department files dropped and run end to end on a fresh PostGIS database: the
published layers that client tests (OGC API, QGIS) look at."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from pipelines.config import settings
from pipelines.landing.drops import drop_file
from pipelines.runner import run_all
from tests.conftest import fresh_database, set_yitu_env


@contextmanager
def sample_run_on_postgis(postgis_server: str, sample_dir: Path, home: Path) -> Iterator[str]:
    """The run's warehouse URL; YITU_* point at it and `home` until the context ends."""
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database(postgis_server))
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        set_yitu_env(mp, home, url)
        manifest = json.loads((sample_dir / "manifest.json").read_text("utf-8"))
        for f in manifest["files"]:
            drop_file(settings(), sample_dir / f["file"], f["dataset"])
        run_all(settings())
        yield url
