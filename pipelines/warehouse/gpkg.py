"""The embedded warehouse: one GeoPackage file (audit, core, dq) plus `publish.gpkg` beside it.

Spatial layers are written and read with pyogrio (GDAL's own GeoPackage driver) through
Arrow, a batch of columns at a time rather than a feature at a time; audit and quality
tables with SQLAlchemy on the same SQLite file. Published layers go to a separate file that is
built whole and renamed into place, which is how a GeoPackage gets an atomic swap.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from sqlalchemy import create_engine, event, text

from pipelines.contracts import Contract
from pipelines.publish.styles_store import write_gpkg_style
from pipelines.warehouse.base import Finalize, Layer, Warehouse, conform_types, made, versioned
from pipelines.warehouse.tables import audit_tables, create_indexes
from pipelines.warehouse.versions import Scope, compared_columns, scope_of

_ENVELOPE_DOUBLES = {0: 0, 1: 4, 2: 6, 3: 6, 4: 8}
# GeoPackage 1.2 opens without warnings in every GDAL (and so QGIS) still in service.
GPKG_DATASET_OPTIONS = {"VERSION": "1.2"}


def _envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """minx, maxx, miny, maxy of a GeoPackage geometry blob (header, else its WKB)."""
    if blob is None or len(blob) < 8 or blob[:2] != b"GP":
        return None
    flags = blob[3]
    if flags & 0b10000:  # empty geometry flag
        return None
    n = _ENVELOPE_DOUBLES.get((flags >> 1) & 0b111, 0)
    order = "<" if flags & 1 else ">"
    if n:
        return struct.unpack(f"{order}4d", blob[8:40])
    g = shapely.from_wkb(blob[8:])
    minx, miny, maxx, maxy = g.bounds
    return minx, maxx, miny, maxy


def _register_gpkg_functions(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    # GDAL's R-tree triggers call ST_* functions that GDAL registers only on its own
    # connections; plain SQLite needs them to UPDATE or DELETE rows of a spatial table.
    def part(i: int) -> Any:
        return lambda b: (e[i] if (e := _envelope(b)) else None)

    dbapi_conn.create_function("ST_IsEmpty", 1, lambda b: 1 if _envelope(b) is None else 0,
                               deterministic=True)
    for i, fn in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        dbapi_conn.create_function(fn, 1, part(i), deterministic=True)


# The GeoPackage "Schema" extension (spec 1.2, F.9): column titles and descriptions. GDAL
# (3.7+) reads `name` as a field's alternative name and `description` as its comment, which
# QGIS shows as the field alias. pyogrio cannot set either, so the rows are written here.
_DATA_COLUMNS_DDL = (
    "CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, "
    "column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT, mime_type TEXT, "
    "constraint_name TEXT, CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), "
    "CONSTRAINT gdc_tn UNIQUE (table_name, name))",
    "CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (constraint_name TEXT NOT NULL, "
    "constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, "
    "max NUMERIC, max_is_inclusive BOOLEAN, description TEXT, "
    "CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))",
)
_SCHEMA_EXTENSION = ("gpkg_schema", "http://www.geopackage.org/spec/#extension_schema",
                     "read-write")


def write_field_aliases(path: Path, layer: str, labels: dict[str, str]) -> None:
    """Chinese labels of `layer`'s columns as GeoPackage field aliases (Schema extension)."""
    rows = [(layer, column, label, label, label) for column, label in labels.items() if column]
    if not rows:
        return
    with sqlite3.connect(path) as conn:
        for ddl in _DATA_COLUMNS_DDL:
            conn.execute(ddl)
        name, definition, scope = _SCHEMA_EXTENSION
        for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            conn.execute("DELETE FROM gpkg_extensions WHERE table_name = ? "
                         "AND extension_name = ?", (table, name))
            conn.execute("INSERT INTO gpkg_extensions (table_name, column_name, extension_name, "
                         "definition, scope) VALUES (?, NULL, ?, ?, ?)",
                         (table, name, definition, scope))
        conn.execute("DELETE FROM gpkg_data_columns WHERE table_name = ?", (layer,))
        conn.executemany("INSERT INTO gpkg_data_columns (table_name, column_name, name, title, "
                         "description) VALUES (?, ?, ?, ?, ?)", rows)
    conn.close()


def write_labelled_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str,
                         labels: dict[str, str]) -> None:
    """A published layer as an analyst opens it: the layer described by its Chinese title
    (`labels[""]`), every labelled column aliased by its Chinese label, and its QGIS style."""
    pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", use_arrow=True,
                            dataset_options=GPKG_DATASET_OPTIONS,
                            layer_options={"DESCRIPTION": labels.get("", layer)})
    write_field_aliases(path, layer, {c: label for c, label in labels.items()
                                      if c in gdf.columns})
    # aliases in the schema extension need GDAL 3.7+; the QGIS style carries them for any QGIS
    write_gpkg_style(path, layer)


class GeoPackageWarehouse(Warehouse):
    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(url.removeprefix("gpkg://")).resolve()
        self.publish_path = self.path.with_name("publish.gpkg")
        # SQLite allows one writer at a time: wait for it rather than fail at once.
        self.engine = create_engine(f"sqlite:///{self.path}", connect_args={"timeout": 120})
        event.listen(self.engine, "connect", _register_gpkg_functions)
        self.tables = audit_tables(schemas=False)

    # -- setup -------------------------------------------------------------------------
    @contextmanager
    def _writer(self) -> Iterator[None]:
        """One writer across processes (Airflow runs tasks in parallel): GDAL's own connection
        and ours must not interleave a drop's append and its ledger update."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def ensure_ready(self) -> None:
        with self._writer():
            self._ensure_ready()

    def meta(self, key: str) -> str | None:
        # Opening a missing file through SQLite would create it without GDAL's header tables.
        return super().meta(key) if self.path.exists() else None

    def _ensure_ready(self) -> None:
        if not self.path.exists():
            # GDAL writes the GeoPackage header tables; a one-row table records what this is.
            import pandas as pd

            meta = pd.DataFrame({"key": ["created_by"], "value": ["yitu"]})
            pyogrio.write_dataframe(meta, self.path, layer="yitu_meta", driver="GPKG",
                                    dataset_options=GPKG_DATASET_OPTIONS)
        self.tables.metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            create_indexes(conn, self.tables)
            for t in self.tables.metadata.tables.values():
                # Registered as attribute tables so QGIS and ogrinfo list them too.
                conn.execute(text(
                    "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                    "VALUES (:t, 'attributes', :t)"), {"t": t.name})

    def _layer(self, dataset: str) -> str:
        return f"core__{dataset}"

    def _has_layer(self, layer: str, path: Path | None = None) -> bool:
        path = path or self.path
        if not path.exists():
            return False
        return layer in {name for name, _ in pyogrio.list_layers(path)}

    # -- core --------------------------------------------------------------------------
    def load_core(self, contract: Contract, frame: gpd.GeoDataFrame, drop_id: str,
                  loaded_at: datetime, finalize: Finalize) -> dict[str, int]:
        with self._writer():
            return self._load_core(contract, frame, drop_id, loaded_at, finalize)

    def _load_core(self, contract: Contract, frame: gpd.GeoDataFrame, drop_id: str,
                   loaded_at: datetime, finalize: Finalize) -> dict[str, int]:
        layer = self._layer(contract.dataset)
        existed = self._has_layer(layer)
        data = versioned(contract, frame, loaded_at)
        scope = scope_of(contract, data)
        close: list[int] = []
        counts = {"written": len(data), "closed": 0, "kept": 0}
        if existed:
            # A rerun of a drop that failed half-way: its rows go before they are written
            # again, and the versions it closed are current again.
            with self.engine.begin() as conn:
                conn.execute(text(f'DELETE FROM "{layer}" WHERE _drop_id = :d'), {"d": drop_id})
                if scope is not None:
                    conn.execute(text(f'UPDATE "{layer}" SET _valid_to = NULL, '
                                      "_closed_by = NULL WHERE _closed_by = :d"), {"d": drop_id})
            if scope is not None:
                current = self._versions_where(layer, compared_columns(contract)[:-1],
                                               f"_valid_to IS NULL AND {_in_scope(scope)}")
                replaced = self.replaced(contract, current, data)
                data, close = data.iloc[replaced.write], replaced.close.tolist()
                counts = replaced.counts()
        if len(data):
            pyogrio.write_dataframe(data, self.path, layer=layer, driver="GPKG",
                                    append=existed, use_arrow=True,
                                    promote_to_multi=contract.geometry.startswith("Multi"))
        with self.engine.begin() as conn:
            stamp = {"drop_id": drop_id, "loaded_at": loaded_at.isoformat()}
            if existed and scope is None:  # a layer this load created holds nothing to close
                counts["closed"] = conn.execute(text(self.close_sql(contract, f'"{layer}"')),
                                                stamp).rowcount
            if close:  # (the version id is GDAL's fid)
                conn.execute(text(f'UPDATE "{layer}" SET _valid_to = :loaded_at, '
                                  "_closed_by = :drop_id WHERE fid = :v"),
                             [{**stamp, "v": v} for v in close])
            finalize(conn)
        return counts

    def read_current(self, contract: Contract,
                     columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        return self.read_current_versions(contract, columns).drop(columns=["_version_id"])

    def read_current_versions(self, contract: Contract,
                              columns: Sequence[str] | None = None,
                              sparse: Sequence[str] = (), upto: int | None = None
                              ) -> gpd.GeoDataFrame:
        # (read whole: `sparse` is leave, not an order; a GeoPackage's rows are few)
        layer = self._layer(contract.dataset)
        if not self._has_layer(layer):
            gdf = conform_types(contract, gpd.GeoDataFrame(geometry=[], crs=4490))
            for name in [c for c in columns or () if c not in gdf.columns]:
                gdf[name] = None  # lineage: not in the contract's own columns
        else:  # the version id is GDAL's fid: INTEGER PRIMARY KEY AUTOINCREMENT, never reused
            gdf = pyogrio.read_dataframe(self.path, layer=layer, where="_valid_to IS NULL",
                                         columns=None if columns is None else list(columns),
                                         use_arrow=True, fid_as_index=True)
        return _versioned(gdf, columns)

    def read_versions(self, contract: Contract, columns: Sequence[str],
                      versions: Sequence[int]) -> gpd.GeoDataFrame:
        layer = self._layer(contract.dataset)
        wanted = [int(v) for v in versions]
        if not self._has_layer(layer) or not wanted:
            return self.read_current_versions(contract, columns).iloc[:0]
        # (the version id is GDAL's fid; OGR SQL where: no bind parameters, integers only)
        return self._versions_where(layer, columns, f"fid IN ({','.join(map(str, wanted))})")

    def _versions_where(self, layer: str, columns: Sequence[str], where: str
                        ) -> gpd.GeoDataFrame:
        """The rows of `layer` meeting an OGR SQL condition of ours, as `_versioned`."""
        return _versioned(pyogrio.read_dataframe(
            self.path, layer=layer, columns=list(columns), use_arrow=True, fid_as_index=True,
            where=where), columns)

    def read_changed(self, contract: Contract, columns: Sequence[str], drops: Sequence[str]
                     ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        layer = self._layer(contract.dataset)
        if not self._has_layer(layer) or not drops:
            none = self.read_current_versions(contract, columns).iloc[:0]
            return none, none[["_version_id", "geom"]]
        listed = ",".join(map(_quoted, drops))
        return (self._versions_where(layer, columns,
                                     f"_drop_id IN ({listed}) AND _valid_to IS NULL"),
                self._versions_where(layer, [], f"_closed_by IN ({listed})"))

    def drop_versions(self, contract: Contract, drop_id: str, columns: list[str],
                      scope: Scope | None = None, loaded_at: datetime | None = None
                      ) -> gpd.GeoDataFrame:
        layer = self._layer(contract.dataset)
        if not self._has_layer(layer):
            return gpd.GeoDataFrame({c: [] for c in columns},
                                    geometry=gpd.GeoSeries([], crs=4490)).rename_geometry("geom")
        quoted = _quoted(drop_id)
        where = f"_drop_id = {quoted} OR _closed_by = {quoted}"
        if scope is not None:  # (every version of the scope: a GeoPackage's rows are few)
            where = "1 = 1" if scope.column is None else f"{where} OR {_in_scope(scope)}"
        gdf = pyogrio.read_dataframe(self.path, layer=layer, columns=columns, use_arrow=True,
                                     where=where)
        return gdf.rename_geometry("geom") if gdf.geometry.name != "geom" else gdf

    # -- publish -----------------------------------------------------------------------
    def publish(self, layers: dict[str, Layer],
                labels: dict[str, dict[str, str]]) -> None:
        tmp = self.publish_path.with_name(f".publish-{os.getpid()}.gpkg")
        # Callers hold the publish lock: any other temporary file is a killed run's leftover.
        for stale in self.publish_path.parent.glob(".publish-*.gpkg"):
            stale.unlink(missing_ok=True)
        try:
            for name in list(layers):  # each frame let go once written (see Warehouse)
                write_labelled_layer(made(layers.pop(name)), tmp, name, labels.get(name, {}))
            os.replace(tmp, self.publish_path)  # atomic on POSIX: old file or new, never half
        finally:
            tmp.unlink(missing_ok=True)

    def read_published(self, layer: str) -> gpd.GeoDataFrame:
        return pyogrio.read_dataframe(self.publish_path, layer=layer, use_arrow=True)

    def count_published(self, layer: str) -> int:
        return int(pyogrio.read_info(self.publish_path, layer=layer)["features"])

    def _read_published_where(self, layer: str, where: str) -> gpd.GeoDataFrame:
        return pyogrio.read_dataframe(self.publish_path, layer=layer, where=where,
                                      use_arrow=True)

    def published_layers(self) -> list[str]:
        if not self.publish_path.exists():
            return []
        # the layers, not the attribute tables beside them (QGIS's layer_styles)
        return [name for name, geometry in pyogrio.list_layers(self.publish_path) if geometry]


def _in_scope(scope: Scope) -> str:
    """That a row is of a snapshot's scope, in OGR SQL."""
    if scope.column is None:
        return "1 = 1"
    values = ", ".join(map(_quoted, scope.values)) or "NULL"
    return f'"{scope.column}" IN ({values})'


def _quoted(text: str) -> str:
    """`text` as an OGR SQL string literal (its where clause takes no bind parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _versioned(gdf: gpd.GeoDataFrame, columns: Sequence[str] | None) -> gpd.GeoDataFrame:
    """Rows read with their fid as index: the fid as `_version_id`, first; the geometry
    last."""
    gdf = _geom_last(gdf, columns)
    ids = gdf.index.to_numpy(dtype=np.int64) if len(gdf) else np.zeros(0, dtype=np.int64)
    gdf = gdf.reset_index(drop=True)
    gdf.insert(0, "_version_id", ids)
    return gdf


def _geom_last(gdf: gpd.GeoDataFrame, columns: Sequence[str] | None) -> gpd.GeoDataFrame:
    """A core read's frame as PostGIS gives it: `columns` in their order (GDAL keeps the
    table's), the geometry last and named geom."""
    gdf = gdf.rename_geometry("geom") if gdf.geometry.name != "geom" else gdf
    return gdf if columns is None else gdf[[*columns, "geom"]]

