"""What every warehouse offers the stages; `open_warehouse` picks one from its URL."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeAlias

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from sqlalchemy import Connection, Engine, delete, insert, inspect, select

from pipelines.contracts import Contract
from pipelines.warehouse.columns import core_columns
from pipelines.warehouse.tables import AuditTables
from pipelines.warehouse.versions import Replacement, Scope, replacement, split_drop_rows

Finalize = Callable[[Connection], None]
GeomArray: TypeAlias = npt.NDArray[np.object_]  # shapely geometries (None where missing)


SEGMENT = "@"  # "<group>@<segment>": a part, or a staged frame, that is one segment of many


def part_group(part: str) -> str:
    """The group a part's rows are compared within (`Parted`): itself, or its segments'."""
    return part.partition(SEGMENT)[0]


@dataclass(frozen=True)
class Parted:
    """A layer made of parts (an integration run's partitions), each read when its turn
    comes: a province's layer is never held whole where the warehouse can write it part by
    part (PostGIS).

    `built_by` names, per part, the run that built it ("": unknown). A part is staged once by
    the run that builds it and taken over unchanged by later runs, so a part published as
    built by the same run holds the same rows: a publish by difference reads, hashes and
    compares only the others.

    Parts named "<group>@<segment>" (`SEGMENT`) are segments of one group's rows (a
    partition staged as segments, `integrate.segments`): a publish by difference compares a
    group's changed segments together, so a row moving from one segment to another of its
    group keeps its fid.

    `geometry`: the one kind every row's geometry is of (the layer contract's), so the
    table's column type does not follow which rows a part happens to hold.

    `hashed`, when given, returns a part's row hashes (`publish.difference.row_hashes` of
    what `read` gives it), made before: a warehouse that compares rows by their hashes
    takes them rather than hashing the part again."""

    parts: tuple[str, ...]
    read: Callable[[str], gpd.GeoDataFrame]
    built_by: tuple[str, ...]
    geometry: str | None = None
    hashed: Callable[[str], npt.NDArray[np.int64] | None] | None = None

    def __post_init__(self) -> None:
        if len(self.built_by) != len(self.parts):
            raise ValueError("one `built_by` per part")

    def whole(self) -> gpd.GeoDataFrame:
        """Every part's rows, in part order."""
        frames = [self.read(part) for part in self.parts]
        if not frames:
            raise ValueError("a layer of no parts has no columns")
        rows = [f for f in frames if len(f)] or frames[:1]
        merged = pd.concat(rows, ignore_index=True) if len(rows) > 1 else rows[0]
        return gpd.GeoDataFrame(merged, geometry=frames[0].geometry.name, crs=frames[0].crs)


# A layer to publish: its frame, a function making it when its turn comes, or its parts (a
# province's layers, read one at a time, are never all held at once).
Layer: TypeAlias = gpd.GeoDataFrame | Callable[[], gpd.GeoDataFrame] | Parted


def made(layer: Layer) -> gpd.GeoDataFrame:
    """The frame of a `Layer`, whole."""
    if isinstance(layer, Parted):
        return layer.whole()
    return layer() if callable(layer) else layer


class Warehouse(ABC):
    url: str
    engine: Engine
    tables: AuditTables

    @abstractmethod
    def ensure_ready(self) -> None:
        """Create what is missing (schemas, tables, indexes, roles); safe to run again."""

    def meta(self, key: str) -> str | None:
        """A value of the warehouse's own state (`audit.meta`), None if never set or the
        warehouse is not set up yet."""
        t = self.tables.meta
        if not inspect(self.engine).has_table(t.name, schema=t.schema):
            return None
        with self.engine.connect() as conn:
            value = conn.execute(select(t.c.value).where(t.c.key == key)).scalar()
        return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        t = self.tables.meta
        with self.engine.begin() as conn:
            conn.execute(delete(t).where(t.c.key == key))
            conn.execute(insert(t).values(key=key, value=value))

    @abstractmethod
    def load_core(self, contract: Contract, frame: gpd.GeoDataFrame, drop_id: str,
                  loaded_at: datetime, finalize: Finalize) -> dict[str, int]:
        """Load one drop's good rows as the current version, and run `finalize` (ledger,
        quarantine) so that a rerun of the same drop never duplicates rows. A snapshot
        writes the rows that differ from the current ones of its scope and closes those
        it replaces, the others kept (`versions`). The versions written, closed and kept."""

    # Whether `load_core` writes the rows and `finalize`'s in one transaction (PostGIS): a
    # `finalize` that raises then leaves no row behind, so the drop's answer files may be
    # made while the rows are sent (`load.load_rows`). The embedded GeoPackage appends the
    # rows first (a rerun removes them).
    loads_at_once = False

    @abstractmethod
    def read_current(self, contract: Contract,
                     columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        """The rows of a core dataset that are current (`_valid_to` is null): every column,
        or only `columns` (of `core_columns`, in that order) and the geometry."""

    @abstractmethod
    def read_current_versions(self, contract: Contract,
                              columns: Sequence[str] | None = None,
                              sparse: Sequence[str] = (), upto: int | None = None
                              ) -> gpd.GeoDataFrame:
        """`read_current` with each row's `_version_id` as the first column: a row's content
        never changes while it is current, so an integration run keeps what it worked out
        of a row by that id (`runner.inputs_cache`). The columns of `sparse` (of `columns`,
        or the geometry, "geom") may be left missing on the rows whose version is `upto` or
        older: a run that kept what it needs of those rows reads only the others' (the
        warehouse may read them whole all the same)."""

    def read_current_at(self, contract: Contract, columns: Sequence[str],
                        points: GeomArray) -> gpd.GeoDataFrame:
        """`read_current_versions` of only the rows whose geometry may touch one of `points`:
        at least every row that intersects one (a bounding-box filter may give more). What
        the points of a day's work orders lie on, without reading a province's parcels."""
        rows = self.read_current_versions(contract, columns)
        if not len(rows) or not len(points):
            return rows.iloc[:0]
        hit = np.unique(rows.sindex.query(points, predicate="intersects")[1])
        return rows.iloc[hit].reset_index(drop=True)

    def read_current_within(self, contract: Contract, columns: Sequence[str],
                            boxes: Sequence[tuple[float, float, float, float]] = (),
                            versions: Sequence[int] = (), points: GeomArray | None = None
                            ) -> gpd.GeoDataFrame:
        """`read_current_versions` of only the current rows whose bounding box meets one
        of `boxes` (xmin, ymin, xmax, ymax), whose version is one of `versions`, or that may
        touch one of `points` (as `read_current_at`): some counties' land, the rows owned
        there and the parcels some points lie on, in one read, each row once (a bounding-box
        filter may give more). What one county's farmland sent again is rebuilt from."""
        rows = self.read_current_versions(contract, columns)
        take = rows["_version_id"].isin(list(versions)).to_numpy().copy()
        if len(rows) and boxes:
            hit = rows.sindex.query(shapely.box(*np.asarray(boxes, dtype=float).T))[1]
            take[hit] = True
        if len(rows) and points is not None and len(points):
            take[rows.sindex.query(points, predicate="intersects")[1]] = True
        return rows[take].reset_index(drop=True)

    @abstractmethod
    def read_versions(self, contract: Contract, columns: Sequence[str],
                      versions: Sequence[int]) -> gpd.GeoDataFrame:
        """The rows of these versions, current or closed since, `_version_id` first, then
        `columns` and the geometry: where the rows a load closed lay."""

    @abstractmethod
    def read_changed(self, contract: Contract, columns: Sequence[str], drops: Sequence[str]
                     ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """What the loaded drops `drops` changed: the current rows they added (as
        `read_current_versions` reads them) and the versions they closed (`_closed_by`:
        `_version_id` and where they lay, `geom`). With the rows current before them, every
        row current now: a plan that knows the published run's rows reads these instead of
        every row's version."""

    # Whether `read_current_versions` leaves the `sparse` columns unread (PostGIS): a run
    # then gains by reading in part what it knows (`runner.inputs_cache`).
    reads_in_part = False

    def read_drop_rows(self, contract: Contract, drop_id: str, columns: Sequence[str],
                       scope: Scope | None = None, loaded_at: datetime | None = None
                       ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        """(before, after) of a drop: the versions it closed and the rows it stated, each
        with `columns` and the geometry `geom`. A snapshot drop (its `scope` and
        `loaded_at`, from its notes) stated the rows it loaded and those of its scope it
        kept as they were (`versions`); those kept are in both."""
        lineage = ["_drop_id", "_closed_by", "_valid_from", "_valid_to"]
        wanted = list(dict.fromkeys([*columns, *lineage]
                                    + ([scope.column] if scope and scope.column else [])))
        rows = self.drop_versions(contract, drop_id, wanted, scope, loaded_at)
        before, after = split_drop_rows(rows, drop_id, scope, loaded_at)
        return before[[*columns, "geom"]], after[[*columns, "geom"]]

    @abstractmethod
    def drop_versions(self, contract: Contract, drop_id: str, columns: list[str],
                      scope: Scope | None = None, loaded_at: datetime | None = None
                      ) -> gpd.GeoDataFrame:
        """The rows a drop loaded, the versions it closed (`_closed_by`) and, with a
        `scope`, the versions of the scope current at `loaded_at` (and maybe others):
        `columns`, geometry `geom`."""

    # Whether `publish` may be given some layers only, the others staying as published
    # (PostGIS swaps tables one by one in one transaction); the GeoPackage writes a new file
    # holding every layer.
    publishes_some_layers = False
    # Whether `publish` compares a layer's rows with those published by their hashes
    # (`publish.difference.row_hashes`; PostGIS): hashes made before it are worth giving it
    # (`Parted.hashed`).
    compares_row_hashes = False
    # Whether reads may run side by side, each on a connection of its own (PostGIS: the
    # server encodes one result while the client decodes another).
    reads_side_by_side = False

    @abstractmethod
    def publish(self, layers: dict[str, Layer],
                labels: dict[str, dict[str, str]]) -> None:
        """Swap in the published layers given, all at once: readers see the old set or the new.
        `layers` is emptied as they are written, each frame made (`made`) and let go in turn."""

    @abstractmethod
    def read_published(self, layer: str) -> gpd.GeoDataFrame: ...

    @abstractmethod
    def published_layers(self) -> list[str]: ...

    def read_published_sample(self, layer: str, at_most: int) -> tuple[int, gpd.GeoDataFrame]:
        """(rows, an even sample of at most about `at_most` of them) of a published layer:
        the whole layer when it is no larger, else every k-th row by fid. For previews (the
        report's maps), which must not read a province's million rows to draw three thousand."""
        total = self.count_published(layer)
        if total <= at_most:
            return total, self.read_published(layer)
        return total, self._read_every(layer, -(-total // at_most))

    def _read_every(self, layer: str, k: int) -> gpd.GeoDataFrame:
        """The published rows whose fid is a multiple of `k`."""
        return self._read_published_where(layer, f"fid % {k} = 0")

    @abstractmethod
    def count_published(self, layer: str) -> int: ...

    @abstractmethod
    def _read_published_where(self, layer: str, where: str) -> gpd.GeoDataFrame:
        """The rows of a published layer meeting an SQL condition of ours (never a user's)."""

    def read_table(self, sql: str, params: dict[str, object] | None = None) -> pd.DataFrame:
        with self.engine.connect() as conn:
            return pd.read_sql_query(sql, conn, params=params)

    def close_sql(self, contract: Contract, table: str) -> str:
        """UPDATE that ends the versions an increment replaces: the current rows of its keys
        (every row, a keyless one: none). A snapshot closes the versions it found changed
        or gone (`versions.replacement`), by id."""
        key = contract.key_column
        scope = f" AND {self._in_scope(key, table)}" if key else " AND false"
        return (f"UPDATE {table} SET _valid_to = :loaded_at, _closed_by = :drop_id "
                f"WHERE _valid_to IS NULL AND _drop_id <> :drop_id{scope}")

    def _in_scope(self, column: str, table: str) -> str:
        """The condition of `close_sql` that a row's `column` holds one of the drop's values."""
        return f"{column} IN (SELECT {column} FROM {table} WHERE _drop_id = :drop_id)"

    @staticmethod
    def replaced(contract: Contract, current: gpd.GeoDataFrame, data: gpd.GeoDataFrame
                 ) -> Replacement:
        """What a snapshot's rows `data` (typed, `versioned`) replace among the `current`
        rows of its scope (read with `_version_id` and `versions.compared_columns`)."""
        ids = current["_version_id"].to_numpy(dtype=np.int64)
        typed = conform_types(contract, current)
        return replacement(contract, typed, ids, data)


def conform_types(contract: Contract, frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Columns in contract order with one dtype each, so every drop appends to the same table."""
    out = gpd.GeoDataFrame(index=frame.index)
    for col in core_columns(contract):
        values = frame[col.name] if col.name in frame.columns else pd.Series(pd.NA, index=frame.index)
        if col.kind == "string" or col.sql_type == "text":
            # Arrow-backed text, missing values kept missing: both warehouses write through
            # Arrow, which takes these columns without a copy (str() of any other value).
            out[col.name] = values.astype("string[pyarrow]")
        elif col.kind == "integer" or col.sql_type == "integer":
            out[col.name] = pd.to_numeric(values, errors="coerce").astype("Int64")
        elif col.kind == "number":
            out[col.name] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif col.kind == "boolean":
            out[col.name] = values.astype("boolean")
        elif col.kind == "date" or col.kind == "datetime":
            out[col.name] = pd.to_datetime(values, errors="coerce").astype("datetime64[ms]")
        else:  # timestamptz lineage
            out[col.name] = pd.to_datetime(values, utc=True, errors="coerce").astype(
                "datetime64[ms, UTC]")
    return out.set_geometry(frame.geometry.values, crs=frame.crs).rename_geometry("geom")


def versioned(contract: Contract, frame: gpd.GeoDataFrame,
              loaded_at: datetime) -> gpd.GeoDataFrame:
    """A drop's rows as the current version from `loaded_at` on, typed as its core table."""
    return conform_types(contract, frame.assign(_valid_from=loaded_at, _valid_to=None))


def open_warehouse(url: str) -> Warehouse:
    if url.startswith("gpkg:"):
        from pipelines.warehouse.gpkg import GeoPackageWarehouse

        return GeoPackageWarehouse(url)
    if url.startswith(("postgresql", "postgres")):
        from pipelines.warehouse.postgis import PostgisWarehouse

        return PostgisWarehouse(url)
    from pipelines.config import UsageError

    raise UsageError(f"unsupported YITU_WAREHOUSE_URL {url!r}: use gpkg:///path or postgresql+psycopg://")
