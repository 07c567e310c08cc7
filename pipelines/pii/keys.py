"""The key personal-data tokens are made with: configured, or generated once on the embedded
default; never stored in the warehouse."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path

from pipelines.config import PiiKeyMissing

__all__ = ["KEY_FILE", "MIN_KEY_CHARS", "PiiKeyMissing", "load_key"]
log = logging.getLogger(__name__)
KEY_FILE = "pii.key"
MIN_KEY_CHARS = 16


def _parse_key(text: str, source: str) -> bytes:
    """Hex of at least 16 bytes is decoded; any other string of 16+ characters is used as
    its UTF-8 bytes. The rule is fixed so one configured value always gives one key."""
    text = text.strip()
    if len(text) >= 2 * MIN_KEY_CHARS and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if len(text) >= MIN_KEY_CHARS:
        return text.encode("utf-8")
    raise PiiKeyMissing(
        f"{source} is too short: give at least {MIN_KEY_CHARS} characters "
        f"(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
    )


def _create_key_file(path: Path) -> None:
    """Write a new random key so that no reader ever sees a half-written file: written to a
    private temporary file first, then linked into place (fails if another process won)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(secrets.token_bytes(32).hex() + "\n")
            f.flush()
            os.fsync(f.fileno())
        # a concurrent run that created it first wins: everyone uses that one
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def load_key(home: Path, configured: str | None, allow_generate: bool) -> bytes:
    """The personal-data key: YITU_PII_KEY (passed in as `configured`) wins, then
    `home/pii.key`; a new key file is generated only where allowed (the embedded
    GeoPackage warehouse). A PostGIS warehouse passes allow_generate=False so that a
    missing key stops the run instead of minting tokens no other run can reproduce."""
    if configured is not None and configured.strip():
        return _parse_key(configured, "YITU_PII_KEY")
    path = home / KEY_FILE
    if not path.exists():
        if not allow_generate:
            raise PiiKeyMissing(
                f"no personal-data key: set YITU_PII_KEY (64 hex characters, or any secret "
                f"of {MIN_KEY_CHARS}+ characters) or provide {path}. Personal fields are "
                "never loaded in clear text, so the run stops here."
            )
        _create_key_file(path)
        log.info("generated a new personal-data key in %s; keep it with the warehouse", path)
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; chmod 600 it", path)
    return _parse_key(path.read_text(encoding="ascii"), str(path))
