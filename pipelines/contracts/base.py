"""What every contract model shares, and where the contracts are read from."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
SCHEMA_DIR_ENV = "YITU_SCHEMA_DIR"
T = TypeVar("T")


class Strict(BaseModel):
    # A contract key we do not understand is an error, never silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Contact(Strict):
    """Someone an alert goes to: a department's clerk or a monitor (a work address, not a
    citizen's personal data)."""

    name: str
    email: str


def schema_dir() -> Path:
    """`schemas/` beside the code, or YITU_SCHEMA_DIR (a deployment's own contracts)."""
    configured = os.environ.get(SCHEMA_DIR_ENV)
    return Path(configured).resolve() if configured else DEFAULT_SCHEMA_DIR


def lookup(known: Mapping[str, T], name: str, kind: str) -> T:
    """`known[name]`, or a KeyError that lists what is known."""
    if name not in known:
        raise KeyError(f"unknown {kind} {name!r}; known: {', '.join(known)}")
    return known[name]
