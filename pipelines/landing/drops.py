"""The landing zone and the raw archive.

A department's file lands in `landing/<dataset>/` (atomically with `yitu drop`, or copied in
with a `<file>.ready` marker, or left until its size and mtime are stable). Detection copies it
into the immutable `raw/<dataset>/<date>/` archive, records it in the ledger (the same bytes as
a drop that loaded or waits are a `duplicate`), and only then removes it from landing.

Landing takes regular files only: a link, FIFO or device is refused and reported, never
followed (a link to the personal-data key must not be archived). A file is archived under a
generated name; the name the department gave it is kept in the ledger (the `.ready` marker
may carry it, so names storage cannot hold survive).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import time
import unicodedata
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config import Settings, UsageError
from pipelines.contracts import DATASETS
from pipelines.reasons import whole_file

# The ledger is imported where a drop is recorded, not with this module: `yitu drop` and the
# triggerer's landing watch only copy and list files, and the warehouse's imports (pandas,
# SQLAlchemy) were most of `yitu drop`'s 0.8 s.
if TYPE_CHECKING:
    from pipelines.warehouse import Warehouse
    from pipelines.warehouse.ledger import DropRecord

READY_SUFFIX = ".ready"
PART_SUFFIX = ".part"
STABLE_SECONDS = float(os.environ.get("YITU_STABLE_SECONDS", "30"))
NAME_BYTES = 120  # of a stored name: with the drop id and `.ready`, far below NAME_MAX (255)
CHUNK = 1 << 20
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\]")
EMPTY_SHA = hashlib.sha256(b"").hexdigest()


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise UsageError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")


def safe_name(name: str) -> str:
    """A name every file system here can hold and the landing protocol never skips: no
    separators or control characters, no leading dot, not a marker, at most NAME_BYTES."""
    name = _UNSAFE.sub("_", unicodedata.normalize("NFC", name)).lstrip(". ") or "file"
    if name.endswith((READY_SUFFIX, PART_SUFFIX)):
        name += "_"
    if len(name.encode()) > NAME_BYTES:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext}" if dot and stem and 0 < len(ext.encode()) <= 16 else ""
        keep = name[: len(name) - len(ext)] if ext else name
        while len(keep.encode()) + len(ext.encode()) > NAME_BYTES:
            keep = keep[:-1]
        name = keep + ext
    return name


def drop_file(settings: Settings, source: Path, dataset: str, *, given: str | None = None) -> Path:
    """Put a file into the landing zone atomically: copy under a hidden name, then rename.
    The marker, written first, carries the name as the department gave it (`given`, when the
    file is stored under another name, as the portal stores an upload)."""
    _check_dataset(dataset)
    if not source.is_file():
        raise UsageError(f"no such file: {source}")
    target_dir = settings.landing / dataset
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / safe_name(source.name)
    if target.exists() or Path(f"{target}{READY_SUFFIX}").exists():
        target = target_dir / safe_name(f"{uuid.uuid4().hex[:8]}-{target.name}")
    tmp = target_dir / f".{uuid.uuid4().hex}{PART_SUFFIX}"
    with open(source, "rb") as src, open(tmp, "wb") as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    Path(f"{target}{READY_SUFFIX}").write_text(given or source.name, encoding="utf-8",
                                               errors="surrogateescape")
    os.replace(tmp, target)
    return target


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _entries(folder: Path) -> list[tuple[Path, os.stat_result]]:
    """Every entry a department put there (not hidden, not a marker), as lstat sees it."""
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.name.endswith(READY_SUFFIX):
            continue
        try:
            out.append((p, p.lstat()))
        except FileNotFoundError:  # taken by another run between listing and lstat
            continue
    return out


def ready_files(folder: Path, now: float) -> list[Path]:
    """Regular files the landing protocol says are complete: marked, or stable long enough
    (also what the Airflow triggerer watches, pipelines/orchestration/triggers.py)."""
    return [p for p, st in _entries(folder) if stat.S_ISREG(st.st_mode) and (
        Path(f"{p}{READY_SUFFIX}").exists() or now - st.st_mtime >= STABLE_SECONDS)]


def refused_entries(folder: Path) -> list[Path]:
    """Links, FIFOs, devices and sockets: answered as refused, never opened or followed."""
    return [p for p, st in _entries(folder)
            if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)]


def detect_drops(settings: Settings, wh: Warehouse, dataset: str | None = None) -> list[DropRecord]:
    """Archive and ledger every ready file in the landing zone; return the new ledger rows."""
    found: list[DropRecord] = []
    for ds in [dataset] if dataset else list(DATASETS):
        _check_dataset(ds)
        folder = settings.landing / ds
        if not folder.is_dir():
            continue
        found += [_refuse(wh, ds, path) for path in refused_entries(folder)]
        found += [_archive(settings, wh, ds, path) for path in ready_files(folder, time.time())]
    return found


def _given_name(path: Path) -> str:
    marker = Path(f"{path}{READY_SUFFIX}")
    try:
        given = marker.read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, IsADirectoryError):
        given = ""
    return given or path.name


def _drop_id(dataset: str, now: datetime, sha: str) -> str:
    return f"{dataset}-{now:%Y%m%dT%H%M%S%f}-{sha[:8]}"


def _refuse(wh: Warehouse, dataset: str, path: Path) -> DropRecord:
    from pipelines.warehouse import ledger
    from pipelines.warehouse.ledger import DropRecord

    now = datetime.now(UTC)
    rec = DropRecord(drop_id=_drop_id(dataset, now, EMPTY_SHA), dataset=dataset,
                     file=path.name, sha256=EMPTY_SHA, size_bytes=0, raw_path="",
                     received_at=now, state="rejected", processed_at=now)
    rec.errors = [whole_file("not_a_file", "收到的不是普通文件（链接、管道或设备），未读取、未保存；"
                             "请直接报送文件本身")]
    ledger.insert_drop(wh, rec)
    path.unlink(missing_ok=True)  # removes the link itself, never what it points to
    Path(f"{path}{READY_SUFFIX}").unlink(missing_ok=True)
    return rec


def _archive(settings: Settings, wh: Warehouse, dataset: str, path: Path) -> DropRecord:
    from pipelines.warehouse import ledger
    from pipelines.warehouse.ledger import DropRecord

    now = datetime.now(UTC)
    raw_dir = settings.raw / dataset / f"{now:%Y-%m-%d}"
    raw_dir.mkdir(parents=True, exist_ok=True)
    tmp = raw_dir / f".{uuid.uuid4().hex}{PART_SUFFIX}"
    # O_NOFOLLOW: a file swapped for a link after listing is refused, not followed.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        return _refuse(wh, dataset, path)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as src:
        if not stat.S_ISREG(os.fstat(src.fileno()).st_mode):
            return _refuse(wh, dataset, path)
        with open(tmp, "wb") as out:  # one pass: copied and hashed together
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
    sha = h.hexdigest()
    given = _given_name(path)
    drop_id = _drop_id(dataset, now, sha)
    raw_path = raw_dir / f"{drop_id}__{safe_name(given)}"
    tmp.chmod(0o444)  # the archive is never edited
    os.replace(tmp, raw_path)
    earlier = ledger.first_with_sha(wh, sha, dataset)
    rec = DropRecord(drop_id=drop_id, dataset=dataset, file=given, sha256=sha,
                     size_bytes=raw_path.stat().st_size, raw_path=str(raw_path), received_at=now)
    if path.name != given:  # the name it had in landing, for the engineer looking for it
        rec.notes["landed_as"] = path.name
    if earlier is not None:
        rec.state, rec.duplicate_of = "duplicate", earlier.drop_id
        rec.errors = [whole_file("duplicate", f"与 {earlier.drop_id}（{earlier.file}）内容完全相同，"
                                 "不重复入库")]
        rec.processed_at = now
    ledger.insert_drop(wh, rec)
    path.unlink()
    Path(f"{path}{READY_SUFFIX}").unlink(missing_ok=True)
    return rec
