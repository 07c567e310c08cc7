"""The landing zone and the raw archive.

A department's file lands in `landing/<dataset>/` (atomically with `yitu drop`, or copied in
with a `<file>.ready` marker, or left until its size and mtime are stable). Detection copies it
into the immutable `raw/<dataset>/<date>/` archive, records it in the ledger (a file seen
before by sha256 is a `duplicate`), and only then removes it from landing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from pipelines.config import Settings, UsageError
from pipelines.contracts import DATASETS
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.ledger import DropRecord

READY_SUFFIX = ".ready"
STABLE_SECONDS = float(os.environ.get("YITU_STABLE_SECONDS", "30"))


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise UsageError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def drop_file(settings: Settings, source: Path, dataset: str) -> Path:
    """Put a file into the landing zone atomically: copy under a hidden name, then rename."""
    _check_dataset(dataset)
    if not source.is_file():
        raise UsageError(f"no such file: {source}")
    target_dir = settings.landing / dataset
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    if target.exists():
        stem = f"{source.stem}-{uuid.uuid4().hex[:8]}"
        target = target_dir / f"{stem}{source.suffix}"
    tmp = target_dir / f".{target.name}.{uuid.uuid4().hex}.part"
    shutil.copyfile(source, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    Path(f"{target}{READY_SUFFIX}").touch()
    return target


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def ready_files(folder: Path, now: float) -> list[Path]:
    """Files in `folder` the landing protocol says are complete: marked, or stable long enough
    (also what the Airflow triggerer watches, pipelines/orchestration/triggers.py)."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.endswith(READY_SUFFIX) or not p.is_file():
            continue
        marker = Path(f"{p}{READY_SUFFIX}")
        st = p.stat()
        if marker.exists() or now - st.st_mtime >= STABLE_SECONDS:
            out.append(p)
    return out


def detect_drops(settings: Settings, wh: Warehouse, dataset: str | None = None) -> list[DropRecord]:
    """Archive and ledger every ready file in the landing zone; return the new ledger rows."""
    found: list[DropRecord] = []
    for ds in [dataset] if dataset else list(DATASETS):
        _check_dataset(ds)
        folder = settings.landing / ds
        if not folder.is_dir():
            continue
        for path in ready_files(folder, time.time()):
            found.append(_archive(settings, wh, ds, path))
    return found


def _archive(settings: Settings, wh: Warehouse, dataset: str, path: Path) -> DropRecord:
    sha = sha256_of(path)
    now = datetime.now(UTC)
    drop_id = f"{dataset}-{now:%Y%m%dT%H%M%S%f}-{sha[:8]}"
    raw_dir = settings.raw / dataset / f"{now:%Y-%m-%d}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    raw_path = raw_dir / f"{drop_id}__{path.name}"
    shutil.copyfile(path, raw_path)
    raw_path.chmod(0o444)  # the archive is never edited
    earlier = ledger.first_with_sha(wh, sha, dataset)
    rec = DropRecord(drop_id=drop_id, dataset=dataset, file=path.name, sha256=sha,
                     size_bytes=path.stat().st_size, raw_path=str(raw_path), received_at=now)
    if earlier is not None:
        rec.state, rec.duplicate_of = "duplicate", earlier.drop_id
        rec.errors = [{"rule": "duplicate", "message": f"[duplicate] 与 {earlier.drop_id}"
                       f"（{earlier.file}）内容完全相同，不重复入库"}]
        rec.processed_at = now
    ledger.insert_drop(wh, rec)
    path.unlink()
    Path(f"{path}{READY_SUFFIX}").unlink(missing_ok=True)
    return rec
