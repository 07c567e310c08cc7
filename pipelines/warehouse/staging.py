"""Where the tasks of an integration run hand each other frames: the run's inputs (read from
the warehouse and located once, by the task that plans the run: each county's share of them,
`.inputs/<county>`, the licence register, `.registers`, and what publish reads, `.inputs`) and
each partition's layers (written by the task that built them, read by publish), wherever
those tasks run.

The store follows the warehouse, so the same task code runs on both:

- PostGIS: the `staging` schema of the warehouse itself (unlogged tables, DDL in
  `ddl.STAGING_DDL`), so Celery workers on any host share nothing but the warehouse, the
  broker and the landing/raw volume. The run the published layers were built from is
  remembered in `audit.meta`.
- the embedded GeoPackage: a folder on this machine (`Settings.staging`), GeoParquet files.

Both are generic: a part is a key (a county code, "unlocated", or any other string such as
"460105/farmland") holding `dict[str, GeoDataFrame]`, stored as GeoParquet, so frames come
back with the dtypes, geometry column and CRS they were written with, on either store.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote, unquote

import geopandas as gpd
import pyarrow.parquet as pq
from psycopg import sql
from sqlalchemy import Connection, text

from pipelines.warehouse.base import Warehouse
from pipelines.warehouse.ddl import STAGING_DDL

Frames = dict[str, gpd.GeoDataFrame]
# Per frame name, the only columns to read of it (read_partitions): such a frame comes back
# without its geometry, which is never decoded. Frames not named are read whole.
Columns = Mapping[str, Sequence[str]]
INPUTS = ".inputs"  # the part holding the run's inputs; never a partition key
REGISTERS = ".registers"  # the part holding the run's licence register, as matched against
# A part whose key starts with a dot is the run's own record (its inputs, what its partitions
# were built from), never one of its partitions.
PUBLISHED_RUN = "published.run"  # folder store: names the run the published layers came from
PUBLISHED_RUN_META = "published_run"  # PostGIS store: the same, in audit.meta
PIECE_BYTES = 64 << 20  # a frame's GeoParquet is stored in pieces of at most this many bytes


class Carry(NamedTuple):
    """Frames a part written for one run takes, as they are, from the same part of another
    (`StagingStore.write`): a day's work orders add a frame beside those staged before."""

    run_id: str
    frames: tuple[str, ...]


def _carried(run_id: str, carry: Carry | None) -> Carry | None:
    if carry is not None and carry.run_id == run_id:
        raise ValueError(f"run {run_id!r} cannot carry frames from itself: they are replaced")
    return carry if carry is not None and carry.frames else None


def share_part(code: str) -> str:
    """The part holding one partition's share of the run's inputs (`.inputs/<county>`)."""
    return f"{INPUTS}/{code}"


def encode(frame: gpd.GeoDataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def decode(data: bytes, columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
    """A staged frame; with `columns`, only those, read by pyarrow without the geometry
    (a GeoDataFrame with no geometry column, the columns' dtypes restored as written)."""
    return _read_parquet(io.BytesIO(data), columns)


def _read_parquet(source: io.BytesIO | Path, columns: Sequence[str] | None) -> gpd.GeoDataFrame:
    if columns is None:
        return gpd.read_parquet(source)
    # geopandas would decode the geometry column and refuse a read without it: pyarrow's
    # column projection reads the others' pages only, and their pandas metadata restores
    # the dtypes (nullable booleans, timestamps) as gpd.read_parquet gives them.
    return gpd.GeoDataFrame(pq.read_table(source, columns=list(columns)).to_pandas())


class StagingStore(ABC):
    """A run's staged parts. Every write is whole: a part is replaced with all its frames at
    once, so a reader sees the old frames or the new, and a task that writes its part twice
    (a retry, or two copies of it running at once) leaves one copy and changes nothing else."""

    @abstractmethod
    def write(self, run_id: str, part: str, frames: Frames, carry: Carry | None = None) -> str:
        """Replace `part` of the run with `frames`, and with `carry`'s frames of the same part
        of another run as that run staged them (copied, never decoded; those it lacks stay
        missing); where it went, for the task's log."""

    @abstractmethod
    def read(self, run_id: str, part: str, columns: Columns | None = None,
             frames: Collection[str] | None = None) -> Frames | None:
        """The frames of `part`, by name (only those named in `frames`, when given; those
        named in `columns` projected, see `Columns`); None when the run has no such part."""

    @abstractmethod
    def parts(self, run_id: str) -> list[str]:
        """The run's partition keys, sorted (the inputs are not a partition)."""

    @abstractmethod
    def frame_names(self, run_id: str, part: str | None = None) -> dict[str, list[str]]:
        """The names of the frames of `part` (of every partition of the run when None), by
        part, sorted."""

    @abstractmethod
    def adopt(self, run_id: str, source_run: str, parts: Iterable[str]) -> None:
        """Give the run those of `parts` it lacks, as `source_run` staged them (the ones
        `source_run` lacks too stay missing)."""

    @abstractmethod
    def published(self) -> str | None:
        """The run the published layers were built from, if it was staged here."""

    @abstractmethod
    def mark_published(self, run_id: str) -> None:
        """Remember `run_id` as the published run and drop every other run's parts."""

    def save_inputs(self, run_id: str, frames: Frames) -> str:
        return self.write(run_id, INPUTS, frames)

    def read_inputs(self, run_id: str) -> Frames | None:
        return self.read(run_id, INPUTS)

    def write_parts(self, run_id: str, parts: Mapping[str, Frames]) -> None:
        """Replace each of `parts` (each whole, as `write` does), one after the other (a
        `Lazy` mapping's frames are made as they are written)."""
        for part, frames in parts.items():
            self.write(run_id, part, frames)

    def read_parts(self, run_id: str, parts: list[str]) -> dict[str, Frames]:
        """The frames of those of `parts` the run has, by part."""
        found = {part: self.read(run_id, part) for part in parts}
        return {part: frames for part, frames in found.items() if frames is not None}

    def write_partition(self, run_id: str, key: str, layers: Frames,
                        carry: Carry | None = None) -> str:
        if not key or key.startswith("."):
            raise ValueError(f"not a partition key: {key!r}")
        return self.write(run_id, key, layers, carry)

    def read_partitions(self, run_id: str, columns: Columns | None = None,
                        frames: Collection[str] | None = None) -> list[Frames]:
        """Every partition of the run, in key order; the frames named in `columns` only
        with those columns (see `Columns`); only the frames named in `frames`, when given
        (a partition holding none of them comes back empty)."""
        return list(self.partitions_by_key(run_id, columns, frames).values())

    def partitions_by_key(self, run_id: str, columns: Columns | None = None,
                          frames: Collection[str] | None = None,
                          keys: Collection[str] | None = None) -> dict[str, Frames]:
        """`read_partitions` by key (of those of `keys` the run has, when given)."""
        wanted = [k for k in self.parts(run_id) if keys is None or k in keys]
        found = {key: self.read(run_id, key, columns, frames) for key in wanted}
        return {key: got for key, got in found.items() if got is not None}


def staging_store(wh: Warehouse, folder: Path) -> StagingStore:
    """The store of this warehouse: its `staging` schema on PostGIS, else `folder`."""
    from pipelines.warehouse.postgis import PostgisWarehouse

    if isinstance(wh, PostgisWarehouse):
        return PostgisStaging(wh)
    return FolderStaging(folder)


# -- the embedded warehouse: a folder ---------------------------------------------------------
class FolderStaging(StagingStore):
    """`folder/<run>/<part>/<frame>.parquet`, the inputs in `folder/<run>/.inputs/`; a part is
    written into a folder of its own and renamed into place. For one machine: the embedded
    warehouse's tasks all run beside it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _run(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise ValueError(f"not a run folder name: {run_id!r}")
        return self.folder / run_id

    @staticmethod
    def _name(part: str) -> str:
        return part if part == INPUTS else quote(part, safe="")

    def write(self, run_id: str, part: str, frames: Frames, carry: Carry | None = None) -> str:
        run = self._run(run_id)
        run.mkdir(parents=True, exist_ok=True)
        target = run / self._name(part)
        carry = _carried(run_id, carry)
        # A folder of its own per writer: two writers at once never mix their files.
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=run))
        for name, frame in frames.items():
            frame.to_parquet(tmp / f"{quote(name, safe='')}.parquet", index=False)
        if carry:  # hard links, as `adopt`'s: a staged file is never rewritten in place
            source = self._run(carry.run_id) / self._name(part)
            for name in carry.frames:
                file = f"{quote(name, safe='')}.parquet"
                with contextlib.suppress(FileNotFoundError, FileExistsError):
                    os.link(source / file, tmp / file)
        for _ in range(100):  # more writers than that at once is no retry: a bug
            try:
                tmp.rename(target)
                return str(target)
            except OSError as exc:  # a target is there: set it aside, then try again
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
            old = run / f".{target.name}.{uuid.uuid4().hex}.old"
            with contextlib.suppress(FileNotFoundError):  # another writer set it aside
                target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        raise RuntimeError(f"could not put {target} in place: written by too many at once")

    def read(self, run_id: str, part: str, columns: Columns | None = None,
             frames: Collection[str] | None = None) -> Frames | None:
        return self._read(self._run(run_id) / self._name(part), columns or {}, frames)

    @staticmethod
    def _read(path: Path, columns: Columns, frames: Collection[str] | None = None
              ) -> Frames | None:
        if not path.is_dir():
            return None
        names = {p: unquote(p.stem) for p in sorted(path.glob("*.parquet"))}
        return {name: _read_parquet(p, columns.get(name)) for p, name in names.items()
                if frames is None or name in frames}

    def parts(self, run_id: str) -> list[str]:
        run = self._run(run_id)
        if not run.is_dir():
            return []
        return sorted(unquote(d.name) for d in run.iterdir()
                      if d.is_dir() and not d.name.startswith("."))

    def frame_names(self, run_id: str, part: str | None = None) -> dict[str, list[str]]:
        run = self._run(run_id)
        parts = self.parts(run_id) if part is None else [part]
        found = {p: sorted(unquote(f.stem) for f in (run / self._name(p)).glob("*.parquet"))
                 for p in parts if (run / self._name(p)).is_dir()}
        return found

    def adopt(self, run_id: str, source_run: str, parts: Iterable[str]) -> None:
        run, source = self._run(run_id), self._run(source_run)
        for part in parts:
            name = self._name(part)
            if (run / name).is_dir() or not (source / name).is_dir():
                continue
            tmp = run / f".{name}.{uuid.uuid4().hex}.copy"
            # Hard links, not copies: parts are written whole and renamed, never rewritten.
            shutil.copytree(source / name, tmp, copy_function=os.link)
            try:
                tmp.rename(run / name)
            except OSError:  # written meanwhile: that one is the run's own
                shutil.rmtree(tmp, ignore_errors=True)

    def published(self) -> str | None:
        pointer = self.folder / PUBLISHED_RUN
        return pointer.read_text("utf-8").strip() if pointer.exists() else None

    def mark_published(self, run_id: str) -> None:
        run = self._run(run_id)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{PUBLISHED_RUN}.tmp"
        tmp.write_text(run_id, encoding="utf-8")
        tmp.replace(self.folder / PUBLISHED_RUN)  # atomic: the pointer is old or new, never half
        for other in self.folder.iterdir():
            if other.is_dir() and other != run and not other.name.startswith("."):
                shutil.rmtree(other, ignore_errors=True)


# -- PostGIS: the warehouse's staging schema ----------------------------------------------------
class PostgisStaging(StagingStore):
    """`staging.parts` (run, part), `staging.frames` (run, part, frame, the name of its bytes)
    and `staging.blobs` (name, piece, GeoParquet bytes), written through binary COPY. A part
    is replaced in one transaction under an advisory lock of its own; reads are one snapshot
    (REPEATABLE READ). Adopting a part or carrying a frame adds names only: a day's run
    takes the published run's untouched counties without copying their bytes. Bytes no
    frame names any more are dropped when a run is published (`mark_published`: no other
    run is staging then, as it drops their parts too)."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self._ready = False

    def _ensure(self, conn: Connection) -> None:
        """The schema on a warehouse set up before it existed: created on first use."""
        if self._ready:
            return
        # staging.blobs came with shared bytes: a warehouse staged before is moved over
        if not conn.execute(text("SELECT to_regclass('staging.blobs') IS NOT NULL")).scalar():
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('yitu.ensure_ready'))"))
            conn.exec_driver_sql(STAGING_DDL)
        self._ready = True

    @contextmanager
    def _writing(self, run_id: str, parts: Iterable[str]) -> Iterator[Connection]:
        """A transaction holding the locks of these parts of the run (in one order: no
        deadlock between two writers)."""
        with self.wh.engine.begin() as conn:
            self._ensure(conn)
            for part in sorted(set(parts)):
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('yitu.staging'), "
                                  "hashtext(:k))"), {"k": f"{run_id}\n{part}"})
            yield conn

    def write(self, run_id: str, part: str, frames: Frames, carry: Carry | None = None) -> str:
        from pipelines.warehouse.postgis import _driver

        key = {"r": run_id, "p": part}
        carry = _carried(run_id, carry)
        with self._writing(run_id, [part]) as conn:
            conn.execute(text("DELETE FROM staging.parts WHERE run_id = :r AND part = :p"), key)
            conn.execute(text("INSERT INTO staging.parts (run_id, part) VALUES (:r, :p)"), key)
            if carry:  # named again, as `adopt` names a part's: the bytes stay where they are
                conn.execute(text(
                    "INSERT INTO staging.frames (run_id, part, frame, blob) "
                    "SELECT :r, part, frame, blob FROM staging.frames "
                    "WHERE run_id = :s AND part = :p AND frame = ANY(:f)"),
                    {**key, "s": carry.run_id, "f": list(carry.frames)})
            blobs = {name: uuid.uuid4() for name in frames}
            stmt = "COPY staging.blobs (blob, piece, data) FROM STDIN (FORMAT BINARY)"
            with _driver(conn).cursor() as cur:
                with cur.copy(stmt) as copy:
                    copy.set_types(["uuid", "int4", "bytea"])
                    for name, frame in frames.items():
                        data = memoryview(encode(frame))
                        for piece, start in enumerate(range(0, max(len(data), 1), PIECE_BYTES)):
                            copy.write_row((blobs[name], piece, data[start:start + PIECE_BYTES]))
                cur.execute("INSERT INTO staging.frames (run_id, part, frame, blob) "
                            "SELECT %s, %s, * FROM unnest(%s::text[], %s::uuid[])",
                            (run_id, part, list(blobs), list(blobs.values())))
        return f"staging.frames run {run_id!r} part {part!r}"

    def _read_parts(self, run_id: str, parts: list[str] | None,
                    columns: Columns | None = None,
                    frames: Collection[str] | None = None) -> dict[str, Frames]:
        """The frames of `parts` (all the run's partitions when None) as one snapshot,
        only those named in `frames` (when given), those named in `columns` projected."""
        from pipelines.warehouse.postgis import _driver

        # the run's own records (inputs, fingerprints) start with a dot: never partitions
        wanted = (sql.SQL("part = ANY(%(parts)s)") if parts is not None
                  else sql.SQL("left(part, 1) <> '.'"))
        named = sql.SQL(" AND frame = ANY(%(frames)s)") if frames is not None else sql.SQL("")
        params = {"run": run_id, "parts": parts, "frames": None if frames is None else
                  sorted(frames)}
        pieces: dict[tuple[str, str], list[bytes]] = {}
        with self.wh.engine.connect().execution_options(
                isolation_level="REPEATABLE READ") as conn, conn.begin():
            self._ensure(conn)
            with _driver(conn).cursor() as cur:
                cur.execute(sql.SQL("SELECT part FROM staging.parts WHERE run_id = %(run)s AND {} "
                                    'ORDER BY part COLLATE "C"').format(wanted), params)
                out: dict[str, Frames] = {str(p): {} for (p,) in cur.fetchall()}
                query = sql.SQL("COPY (SELECT part, frame, data FROM staging.frames "
                                "JOIN staging.blobs USING (blob) WHERE run_id = %(run)s "
                                "AND {}{} ORDER BY part, frame, piece) "
                                "TO STDOUT (FORMAT BINARY)").format(wanted, named)
                with cur.copy(query, params) as copy:
                    copy.set_types(["text", "text", "bytea"])
                    for part, frame, data in copy.rows():
                        pieces.setdefault((part, frame), []).append(data)
        for (part, frame), chunks in sorted(pieces.items()):
            out[part][frame] = decode(b"".join(chunks), (columns or {}).get(frame))
        return out

    def read(self, run_id: str, part: str, columns: Columns | None = None,
             frames: Collection[str] | None = None) -> Frames | None:
        return self._read_parts(run_id, [part], columns, frames).get(part)

    def read_parts(self, run_id: str, parts: list[str]) -> dict[str, Frames]:
        return self._read_parts(run_id, parts)  # one query, one snapshot

    def partitions_by_key(self, run_id: str, columns: Columns | None = None,
                          frames: Collection[str] | None = None,
                          keys: Collection[str] | None = None) -> dict[str, Frames]:
        return self._read_parts(run_id, None if keys is None else sorted(keys), columns, frames)

    def frame_names(self, run_id: str, part: str | None = None) -> dict[str, list[str]]:
        wanted = "part = :p" if part is not None else "left(part, 1) <> '.'"
        with self.wh.engine.connect() as conn:
            self._ensure(conn)
            found = conn.execute(text(
                "SELECT part, frame FROM staging.frames WHERE run_id = :r AND "
                f'{wanted} ORDER BY part COLLATE "C", frame COLLATE "C"'),
                {"r": run_id, "p": part}).all()
        out: dict[str, list[str]] = {}
        for p, frame in found:
            out.setdefault(str(p), []).append(str(frame))
        return out

    def parts(self, run_id: str) -> list[str]:
        with self.wh.engine.connect() as conn:
            self._ensure(conn)
            found = conn.execute(text(
                "SELECT part FROM staging.parts WHERE run_id = :r AND left(part, 1) <> '.' "
                'ORDER BY part COLLATE "C"'), {"r": run_id}).scalars().all()
        return [str(p) for p in found]

    def adopt(self, run_id: str, source_run: str, parts: Iterable[str]) -> None:
        wanted = sorted(set(parts))
        with self._writing(run_id, wanted) as conn:
            taken = conn.execute(text(
                "INSERT INTO staging.parts (run_id, part) SELECT :r, part FROM staging.parts "
                "WHERE run_id = :s AND part = ANY(:p) ON CONFLICT DO NOTHING RETURNING part"),
                {"r": run_id, "s": source_run, "p": wanted}).scalars().all()
            # Named again: the bytes are the source run's, shared, never copied.
            conn.execute(text(
                "INSERT INTO staging.frames (run_id, part, frame, blob) "
                "SELECT :r, part, frame, blob FROM staging.frames "
                "WHERE run_id = :s AND part = ANY(:p)"),
                {"r": run_id, "s": source_run, "p": list(taken)})

    def published(self) -> str | None:
        return self.wh.meta(PUBLISHED_RUN_META)

    def mark_published(self, run_id: str) -> None:
        self.wh.set_meta(PUBLISHED_RUN_META, run_id)
        with self.wh.engine.begin() as conn:
            self._ensure(conn)
            conn.execute(text("DELETE FROM staging.parts WHERE run_id <> :r"), {"r": run_id})
            # the bytes of the parts just dropped, and of parts written again since, unless
            # this run names them too
            conn.execute(text("DELETE FROM staging.blobs b WHERE NOT EXISTS "
                              "(SELECT FROM staging.frames f WHERE f.blob = b.blob)"))
