"""The production warehouse: PostGIS, schemas audit / core / dq / publish.

Rows go in and out through COPY (`pgcopy`), inside the transaction the stage asked for: a
drop's rows with its ledger outcome, the published layers with their swap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import psycopg
import shapely
from psycopg import sql
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import OperationalError

from pipelines.contracts import Contract, all_contracts
from pipelines.failpoints import failpoint
from pipelines.publish import difference
from pipelines.publish.styles_store import POSTGIS_STYLES_DDL, write_postgis_styles
from pipelines.warehouse.base import (
    Finalize,
    GeomArray,
    Layer,
    Parted,
    Warehouse,
    made,
    part_group,
    versioned,
)
from pipelines.warehouse.ddl import STAGING_DDL, core_ddl
from pipelines.warehouse.pgcopy import SRID, NotArrowReadable, copy_in, copy_out, read_arrow
from pipelines.warehouse.tables import audit_tables, create_indexes
from pipelines.warehouse.versions import Scope, compared_columns, scope_of

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
SCHEMAS = ("audit", "core", "dq", "publish", "publish_staging", "ogc")
# The OGC API (pygeoapi, deploy/pygeoapi/) reads ogc.<layer>: the published table with its
# geometry in EPSG:4490's own axis order, latitude first. pygeoapi takes stored coordinates to
# follow the storage CRS's axis order and reprojects with pyproj on that assumption, while
# PostGIS keeps longitude first; without the flip CRS84 output would come out swapped.
OGC_GEOMETRY = "ST_FlipCoordinates(geom)"
# How long publish waits for readers of the published layers to let go before it gives up,
# and how long any one of its statements may run.
LOCK_TIMEOUT_ENV = "YITU_PUBLISH_LOCK_TIMEOUT_S"
STATEMENT_TIMEOUT_ENV = "YITU_PUBLISH_STATEMENT_TIMEOUT_S"
LOCK_TIMEOUT_S = 30.0
STATEMENT_TIMEOUT_S = 1800.0


class PublishLockTimeout(RuntimeError):
    """Publish waited its lock timeout for a published layer that another session holds
    (an analyst's transaction left open, typically) and gave up; nothing was published."""


def _under_points(table: sql.Identifier) -> sql.Composable:
    """The versions of the current rows of `table` whose box holds one of the points of the
    `%(points)s` parameter (a WKB geometry collection), as an array: through the GiST
    index, one lookup per point."""
    return sql.SQL(
        "ARRAY(SELECT c._version_id FROM (SELECT (ST_Dump(ST_GeomFromWKB(%(points)s, {srid})))"
        ".geom AS g) p JOIN {t} c ON c.geom && p.g WHERE c._valid_to IS NULL)").format(
        srid=sql.Literal(SRID), t=table)


def _driver(conn: Connection) -> psycopg.Connection[Any]:
    """The psycopg connection under SQLAlchemy's: COPY runs in the same transaction."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, psycopg.Connection):
        raise TypeError("the PostGIS warehouse copies rows with psycopg 3: use a "
                        "postgresql+psycopg:// (or postgresql://) YITU_WAREHOUSE_URL")
    return driver


def _seconds(env: str, default: float) -> float:
    value = os.environ.get(env)
    return float(value) if value else default


class PostgisWarehouse(Warehouse):
    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        self.engine = create_engine(url, pool_pre_ping=True)
        self.tables = audit_tables(schemas=True)
        # per layer of the last publish: "whole", or "difference: <rows changed>"
        self.published_by: dict[str, str] = {}

    def ensure_ready(self) -> None:
        with self.engine.begin() as conn:
            # Two loaders starting at once must not both create the same objects.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('yitu.ensure_ready'))"))
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
            for s in SCHEMAS:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {s}"))
            for c in all_contracts():
                conn.exec_driver_sql(core_ddl(c))
            self.tables.metadata.create_all(conn)
            create_indexes(conn, self.tables)
            conn.exec_driver_sql(STAGING_DDL)  # integration runs' staged frames (staging.py)
            conn.exec_driver_sql(POSTGIS_STYLES_DDL)  # QGIS's own table, read by roles.sql
            conn.exec_driver_sql(difference.PUBLISHED_ROWS_DDL)  # the loader's (roles.sql)
            conn.exec_driver_sql((SQL_DIR / "roles.sql").read_text("utf-8"))

    def load_core(self, contract: Contract, frame: gpd.GeoDataFrame, drop_id: str,
                  loaded_at: datetime, finalize: Finalize) -> dict[str, int]:
        table = f"core.{contract.dataset}"
        data = versioned(contract, frame, loaded_at)
        with self.engine.begin() as conn:  # one transaction per drop
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                         {"k": f"yitu.load.{contract.dataset}"})
            # A drop loaded again (two workers at once) undoes what it did the first time.
            undone = conn.execute(text(f"DELETE FROM {table} WHERE _drop_id = :d"),
                                  {"d": drop_id}).rowcount
            scope = scope_of(contract, data)
            if scope is None:  # an increment: every row a new version, its keys' closed
                if len(data):
                    copy_in(_driver(conn), "core", contract.dataset, data)
                closed = conn.execute(text(self.close_sql(contract, table)),
                                      {"drop_id": drop_id, "loaded_at": loaded_at}).rowcount
                counts = {"written": len(data), "closed": closed, "kept": 0}
            else:
                undone += conn.execute(text(
                    f"UPDATE {table} SET _valid_to = NULL, _closed_by = NULL "
                    "WHERE _closed_by = :d"), {"d": drop_id}).rowcount
                # Read under the lock: no other load of the dataset changes them meanwhile.
                # Through ADBC (another session, half the CPU of COPY) unless this one
                # changed them just now.
                current = self._scope_rows(conn, contract, scope, on_this=undone > 0)
                replaced = self.replaced(contract, current, data)
                del current
                if len(replaced.write):
                    copy_in(_driver(conn), "core", contract.dataset,
                            data.iloc[replaced.write])
                if len(replaced.close):
                    conn.execute(text(
                        f"UPDATE {table} SET _valid_to = :t, _closed_by = :d "
                        "WHERE _version_id = ANY(:ids) AND _valid_to IS NULL"),
                        {"t": loaded_at, "d": drop_id, "ids": replaced.close.tolist()})
                counts = replaced.counts()
            finalize(conn)
        return counts

    def _scope_rows(self, conn: Connection, contract: Contract, scope: Scope,
                    on_this: bool) -> gpd.GeoDataFrame:
        """The current rows of a snapshot's scope, as `Warehouse.replaced` compares them:
        through the index on the scope column (`ddl.core_ddl`)."""
        query, params = self.scope_sql(contract, scope), {"s": list(scope.values)}
        return copy_out(_driver(conn), query, params) if on_this else self._read(query, params)

    @staticmethod
    def scope_sql(contract: Contract, scope: Scope) -> sql.Composed:
        """`_scope_rows`' query (the scope's values as `%(s)s`)."""
        cols = sql.SQL(", ").join(map(sql.Identifier, [
            "_version_id", *compared_columns(contract)]))
        where = sql.SQL("TRUE") if scope.column is None else sql.SQL(
            "{} = ANY(%(s)s::text[])").format(sql.Identifier(scope.column))
        return sql.SQL("SELECT {} FROM {} WHERE _valid_to IS NULL AND {}").format(
            cols, sql.Identifier("core", contract.dataset), where)

    def _in_scope(self, column: str, table: str) -> str:
        # The drop's values as one array (an InitPlan), so the current rows holding them are
        # found through the table's index on the column (`ddl.core_ddl`). As `IN (SELECT
        # ...)` the planner hash-joined every current row: closing a county's 87 thousand
        # parcels visited all 963 thousand, 3.8 s against 0.9 s at 1x.
        return (f"{column} = ANY(ARRAY(SELECT DISTINCT {column} FROM {table} "
                "WHERE _drop_id = :drop_id))")

    def _read(self, query: sql.Composable, params: dict[str, Any] | None = None
              ) -> gpd.GeoDataFrame:
        """The rows of `query`, through ADBC (`pgcopy.read_arrow`: half the CPU), or COPY
        where a column is of a type only COPY's text reads."""
        with self.engine.connect() as conn:
            bound = psycopg.ClientCursor(_driver(conn)).mogrify(sql.Composed([query]), params)
            try:
                return read_arrow(self._libpq_uri, bound)
            except NotArrowReadable:
                return copy_out(_driver(conn), query, params)

    @property
    def _libpq_uri(self) -> str:
        """The warehouse URL as libpq (and so ADBC) takes it."""
        return self.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)

    def read_current(self, contract: Contract,
                     columns: Sequence[str] | None = None) -> gpd.GeoDataFrame:
        return self.read_current_versions(contract, columns).drop(columns=["_version_id"])

    def read_current_versions(self, contract: Contract,
                              columns: Sequence[str] | None = None,
                              sparse: Sequence[str] = (), upto: int | None = None
                              ) -> gpd.GeoDataFrame:
        # the sparse columns of old versions as NULLs of their type: neither sent nor decoded
        def column(name: str) -> sql.Composable:
            if upto is None or name not in sparse:
                return sql.Identifier(name)
            return sql.SQL("CASE WHEN _version_id > {} THEN {} END AS {}").format(
                sql.Literal(int(upto)), sql.Identifier(name), sql.Identifier(name))

        picked = sql.SQL("*") if columns is None else sql.SQL(", ").join(
            column(c) for c in ["_version_id", *columns, "geom"])
        return self._read(sql.SQL("SELECT {} FROM {} WHERE _valid_to IS NULL").format(
            picked, sql.Identifier("core", contract.dataset)))

    def read_current_at(self, contract: Contract, columns: Sequence[str],
                        points: GeomArray) -> gpd.GeoDataFrame:
        """Through the table's GiST index: the current rows whose box holds one of the
        points (every row a point intersects, and maybe a few more), each once, by COPY (a
        few thousand rows). The planner must know the table's size to take the index: one
        never analysed, or much changed since (autovacuum may be off, or not there yet after
        a load), is analysed first, else a million parcels are compared with every point;
        and sequential scans are turned off for the query. The rows found are looked up by
        key as one array (`= ANY(ARRAY(...))`): as `IN (...)` the planner scanned the whole
        key index to join them, 1.5 s against 0.2 s for a day's orders at 1x."""
        valid = [p for p in points if p is not None and not p.is_empty]
        table = sql.Identifier("core", contract.dataset)
        cols = sql.SQL(", ").join(map(sql.Identifier, ["_version_id", *columns, "geom"]))
        if not valid:  # no row: the columns only
            return self._read(sql.SQL("SELECT {} FROM {} WHERE false").format(cols, table))
        query = sql.SQL("SELECT {cols} FROM {t} WHERE _version_id = ANY({under})").format(
            cols=cols, t=table, under=_under_points(table))
        self._analysed(contract)
        with self.engine.begin() as conn:
            driver = _driver(conn)
            driver.execute("SET LOCAL enable_seqscan = off")
            return copy_out(driver, query, {"points": shapely.to_wkb(
                shapely.geometrycollections(valid))})

    def read_current_within(self, contract: Contract, columns: Sequence[str],
                            boxes: Sequence[tuple[float, float, float, float]] = (),
                            versions: Sequence[int] = (), points: GeomArray | None = None
                            ) -> gpd.GeoDataFrame:
        """In one statement, through ADBC as `read_current_versions` (the same columns and
        types as a whole read): each box through the GiST index, the versions through the
        key, the rows under the points as `read_current_at` finds them."""
        table = sql.Identifier("core", contract.dataset)
        cols = sql.SQL(", ").join(map(sql.Identifier, ["_version_id", *columns, "geom"]))
        ids: sql.Composable = sql.SQL("%(versions)s::bigint[]")
        valid = [] if points is None else [p for p in points if p is not None
                                           and not p.is_empty]
        if valid:
            self._analysed(contract)
            ids = sql.SQL("{} || {}").format(_under_points(table), ids)
        within = [sql.SQL("geom && ST_MakeEnvelope({}, {}, {}, {}, {})").format(
            *map(sql.Literal, map(float, box)), sql.Literal(SRID)) for box in boxes]
        query = sql.SQL("SELECT {cols} FROM {t} WHERE _valid_to IS NULL AND ({where})").format(
            cols=cols, t=table, where=sql.SQL(" OR ").join(
                [*within, sql.SQL("_version_id = ANY({})").format(ids)]))
        params: dict[str, Any] = {"versions": [int(v) for v in versions]}
        if valid:
            params["points"] = shapely.to_wkb(shapely.geometrycollections(valid))
        return self._read(query, params)

    def _analysed(self, contract: Contract) -> None:
        """The table analysed if the planner knows nothing of it, or it changed much since
        (see `read_current_at`): else points are compared with every row."""
        with self.engine.begin() as conn:
            driver = _driver(conn)
            known = driver.execute(
                "SELECT c.reltuples, coalesce(s.n_mod_since_analyze, 0) FROM pg_class c "
                "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.oid = %s::regclass",
                (f"core.{contract.dataset}",)).fetchone()
            if known is None or known[0] < 0 or known[1] > max(known[0], 1000) / 5:
                driver.execute(sql.SQL("ANALYZE {}").format(
                    sql.Identifier("core", contract.dataset)))

    def read_versions(self, contract: Contract, columns: Sequence[str],
                      versions: Sequence[int]) -> gpd.GeoDataFrame:
        query = sql.SQL("SELECT {} FROM {} WHERE _version_id = ANY(%(v)s::bigint[])").format(
            sql.SQL(", ").join(map(sql.Identifier, ["_version_id", *columns, "geom"])),
            sql.Identifier("core", contract.dataset))
        return self._read(query, {"v": [int(v) for v in versions]})

    def read_changed(self, contract: Contract, columns: Sequence[str], drops: Sequence[str]
                     ) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
        added, closed = self.changed_sql(contract, columns)
        given = {"d": list(drops)}
        return self._read(added, given), self._read(closed, given)

    @staticmethod
    def changed_sql(contract: Contract, columns: Sequence[str]
                    ) -> tuple[sql.Composed, sql.Composed]:
        """`read_changed`'s queries (the drops as `%(d)s`), through the indexes on
        `_drop_id` and `_closed_by` (`ddl.core_ddl`): at 1x one county's parcels sent
        again, 106 thousand rows of each instead of a scan of every version for a million
        current ids (1.4 s of the plan waiting). The closed versions' shapes come with
        their ids: reading them again by id was 0.9 s more."""
        table = sql.Identifier("core", contract.dataset)
        cols = sql.SQL(", ").join(map(sql.Identifier, ["_version_id", *columns, "geom"]))
        return (sql.SQL("SELECT {} FROM {} WHERE _drop_id = ANY(%(d)s::text[]) "
                        "AND _valid_to IS NULL").format(cols, table),
                sql.SQL("SELECT _version_id, geom FROM {} WHERE _closed_by = ANY(%(d)s::text[])"
                        ).format(table))

    reads_in_part = True  # the sparse columns of `read_current_versions` are not sent

    def drop_versions(self, contract: Contract, drop_id: str, columns: list[str],
                      scope: Scope | None = None, loaded_at: datetime | None = None
                      ) -> gpd.GeoDataFrame:
        return self._read(self.drop_versions_sql(contract, columns, scope),
                          {"d": drop_id, "s": list(scope.values) if scope else [],
                           "t": loaded_at})

    @staticmethod
    def drop_versions_sql(contract: Contract, columns: list[str],
                          scope: Scope | None = None) -> sql.Composed:
        """`drop_versions`' query (the drop as `%(d)s`, the scope's values `%(s)s`, the
        load's time `%(t)s`): through the indexes on `_drop_id`, `_closed_by` and the scope
        column's current rows (`ddl.core_ddl`), never a scan of every version kept. Of the
        scope, the rows current now and those closed after the load (among the closed)."""
        where: sql.Composable = sql.SQL("_drop_id = %(d)s OR _closed_by = %(d)s")
        if scope is not None and scope.column is None:
            where = sql.SQL("TRUE")  # (the whole dataset: the divisions, a few hundred rows)
        elif scope is not None and scope.column is not None:
            where = sql.SQL(
                "{mine} OR (_valid_to IS NULL AND {c} = ANY(%(s)s::text[])) OR "
                "(_closed_by IS NOT NULL AND _valid_to > %(t)s AND {c} = ANY(%(s)s::text[]))"
            ).format(mine=where, c=sql.Identifier(scope.column))
        return sql.SQL("SELECT {}, geom FROM {} WHERE {}").format(
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.Identifier("core", contract.dataset), where)

    reads_side_by_side = True  # each read on an ADBC connection of its own (`_read`)
    loads_at_once = True  # `load_core`: the rows and `finalize` in one transaction

    # -- publish -----------------------------------------------------------------------
    publishes_some_layers = True
    compares_row_hashes = True

    def publish(self, layers: dict[str, Layer],
                labels: dict[str, dict[str, str]]) -> None:
        """Every layer in one transaction, so readers see the old layers or the new: each one
        published by difference where its record allows (`pipelines.publish.difference`:
        row locks only), else swapped in whole (a new table, under an exclusive lock).

        `layers` is emptied as it goes: each frame is let go once its rows are in the
        staging table (whole) or its rows to insert are taken (by difference), so the
        province's layers and their COPY text are not all held at once."""
        self.published_by = {}
        names = list(layers)
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('yitu.publish'))"))
            # After the advisory lock: a publish waits for the one before it as long as it
            # takes; only a statement of its own, or a reader's lock, is bounded.
            stmt_ms = round(_seconds(STATEMENT_TIMEOUT_ENV, STATEMENT_TIMEOUT_S) * 1000)
            conn.execute(text("SELECT set_config('statement_timeout', :v, true)"),
                         {"v": f"{stmt_ms}ms"})
            driver = _driver(conn)
            # The layers read part by part first, each changed as soon as compared: a layer
            # given as a function may be in the making aside meanwhile
            # (`runner.integration.publish_run`'s views), while the rows go to the server.
            staged: dict[str, _Prepared] = {}  # the layers to swap in whole
            for name in sorted(names, key=lambda name: not isinstance(layers[name], Parted)):
                p = _prepare(conn, name, layers.pop(name), labels.get(name, {}))
                if p.change is None:
                    staged[name] = p
                    continue
                difference.apply(driver, name, p.change)  # its table, view, grants stay
                self.published_by[name] = f"difference: {p.change.summary()}"
                del p  # (its rows to insert)
            whole = [name for name in names if name in staged]
            _lock_published(conn, whole, _seconds(LOCK_TIMEOUT_ENV, LOCK_TIMEOUT_S))
            # The swap: within this transaction, so readers see the old layers or the new.
            # A view is bound to its table, not to the name: the OGC view goes and comes back
            # with the table it shows.
            for name in whole:
                p = staged[name]
                conn.execute(text(f"DROP VIEW IF EXISTS ogc.{name}"))
                conn.execute(text(f"DROP TABLE IF EXISTS publish.{name}"))
                conn.execute(text(f"ALTER TABLE publish_staging.{name} SET SCHEMA publish"))
                conn.execute(text(f"GRANT SELECT ON publish.{name} TO yitu_analyst, yitu_monitor"))
                _create_ogc_view(conn, name, p.attributes)
                difference.record_whole(driver, name, p.signature, p.hashes, p.part_rows,
                                        p.part_runs)
                self.published_by[name] = "whole"
            write_postgis_styles(conn, names)
            failpoint("publish.before_commit")

    def read_published(self, layer: str) -> gpd.GeoDataFrame:
        return self._read(sql.SQL("SELECT * FROM {}").format(sql.Identifier("publish", layer)))

    def published_layers(self) -> list[str]:
        df = self.read_table("SELECT tablename FROM pg_tables WHERE schemaname = 'publish' "
                             "ORDER BY tablename")
        return list(df["tablename"])

    def count_published(self, layer: str) -> int:
        """The rows publish recorded for the layer's table (changed in the same transaction
        as its rows, `publish.difference`), else counted: a report's previews counted seven
        layers, a province's millions of rows, on every run."""
        with self.engine.connect() as conn:
            recorded = conn.execute(text(
                "SELECT row_count FROM audit.published_layers WHERE layer = :l "
                "AND relation = to_regclass(:t)"),
                {"l": layer, "t": f"publish.{_ident(layer)}"}).scalar()
            return int(recorded) if recorded is not None else int(conn.execute(text(
                f"SELECT count(*) FROM publish.{_ident(layer)}")).scalar_one())

    def _read_every(self, layer: str, k: int) -> gpd.GeoDataFrame:
        """Through the fid key: the multiples of `k` up to the largest fid looked up, the
        rows the base class's `fid % k = 0` scan finds."""
        table = sql.Identifier("publish", layer)
        return self._read(sql.SQL(
            "SELECT * FROM {t} WHERE fid = ANY(ARRAY(SELECT generate_series({k}, "
            "(SELECT max(fid) FROM {t}), {k})))").format(t=table, k=sql.Literal(k)))

    def _read_published_where(self, layer: str, where: str) -> gpd.GeoDataFrame:
        return self._read(sql.SQL("SELECT * FROM {} WHERE {}").format(
            sql.Identifier("publish", layer), sql.SQL(where)))


class _Prepared(NamedTuple):
    """A layer ready to be swapped in or changed, its rows let go: what its table is made
    of, and either its difference from what is published (`change`) or, swapped in whole
    (its rows already in publish_staging), the hashes and parts of its rows."""

    attributes: list[str]
    signature: str
    change: difference.Change | None = None
    hashes: difference.Hashes = np.zeros((0, 2), dtype=np.int64)
    part_rows: dict[str, int] = {}
    part_runs: dict[str, str] = {}


def _parted(given: Layer) -> Parted:
    """A layer as parts: a frame (or a function making it) is one part, "", of no known
    run: always compared."""
    if isinstance(given, Parted):
        return given
    frame = made(given)
    return Parted(("",), lambda _part: frame, ("",))


def _geom(data: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return data.rename_geometry("geom") if data.geometry.name != "geom" else data


def _prepare(conn: Connection, name: str, given: Layer, labels: dict[str, str]) -> _Prepared:
    """Publish `name` by difference where its record allows, reading only the parts that can
    differ (those the record does not show as built by the run that built them now), or else
    stage it whole, part by part."""
    layer = _parted(given)
    del given
    found, why = difference.record_of(_driver(conn), name)
    if found is not None:
        prepared, why = _by_difference(conn, name, layer, labels, found)
        if prepared is not None:
            return prepared
    difference.log.info("publish %s: whole (%s)", name, why)
    return _stage(conn, name, layer, labels)


def _by_difference(conn: Connection, name: str, layer: Parted, labels: dict[str, str],
                   found: difference.Record) -> tuple[_Prepared | None, str]:
    same = {p for p, by in zip(layer.parts, layer.built_by, strict=True)
            if by and p in found.part_rows and found.part_runs.get(p) == by}
    scope = [p for p in layer.parts if p not in same]
    scope += [p for p in found.part_rows if p not in layer.parts]  # gone: their rows go
    runs = dict(zip(layer.parts, layer.built_by, strict=True))
    change = difference.Change(found.row_count, dict(found.part_rows),
                               {**found.part_runs, **runs})
    recorded = difference.recorded(_driver(conn), name,
                                   [p for p in scope if found.part_rows.get(p)])
    none = (np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.int64))
    groups: dict[str, list[str]] = {}
    for part in scope:  # a group's segments compared together (`Parted`)
        groups.setdefault(part_group(part), []).append(part)
    checked = ""
    for parts in groups.values():
        data = {p: _geom(layer.read(p)) if p in layer.parts else None for p in parts}
        first = next((d for d in data.values() if d is not None), None)
        if first is not None and not checked:
            checked = difference.signature(first, labels, layer.geometry)
            if checked != found.columns:
                return None, "its columns or their labels changed"
        old = {p: recorded.get(p, none) for p in parts if p in found.part_rows}
        if any(len(old[p][0]) != found.part_rows[p] for p in old):
            return None, "the record does not match the table's rows"
        change.add(old, data, {p: _row_hashes(layer, p, d) for p, d in data.items()
                               if d is not None})
        del data, first
        if not change.worth_it():
            return None, f"more rows differ than stay: {change.summary()}"
    if not checked and layer.parts:  # no part read: the columns are checked on the first
        data = _geom(layer.read(layer.parts[0]))
        if difference.signature(data, labels, layer.geometry) != found.columns:
            return None, "its columns or their labels changed"
    if same:
        difference.log.info("publish %s: %d of %d parts compared, %d as published (built by "
                            "the same run)", name, len(scope), len(layer.parts), len(same))
    return _Prepared([], found.columns, change), ""  # (its view stays)


def _stage(conn: Connection, name: str, layer: Parted, labels: dict[str, str]) -> _Prepared:
    """publish_staging.<name>: the layer's rows, part by part (each read, hashed, copied and
    let go in turn), typed from the first part's dtypes, indexed, commented."""
    staged = f"publish_staging.{name}"
    conn.execute(text(f"DROP TABLE IF EXISTS {staged}"))
    columns: list[str] = []
    attributes: list[str] = []
    hashes, part_rows, rows = [], {}, 0
    signature = ""
    for part in layer.parts:
        data = _geom(layer.read(part))
        if not columns:
            columns = difference.columns_of(data, layer.geometry)
            attributes = [c for c in data.columns if c != "geom"]
            signature = difference.signature(data, labels, layer.geometry)
            # QGIS edits and identifies features by a primary key: fid, numbered in row order.
            conn.execute(text(f"CREATE TABLE {staged} ({', '.join(columns)}, "
                              "fid bigserial PRIMARY KEY)"))
        elif difference.columns_of(data, layer.geometry) != columns:
            raise ValueError(f"publish {name}: part {part!r} has columns "
                             f"{difference.columns_of(data, layer.geometry)}, "
                             f"the first part {columns}")
        # fids in row order, given here rather than left to the sequence: the hash record
        # (`difference.record_whole`) says which fid each row got.
        copy_in(_driver(conn), "publish_staging", name,
                data.assign(fid=range(rows + 1, rows + len(data) + 1)))
        hashes.append(_row_hashes(layer, part, data))
        part_rows[part] = len(data)
        rows += len(data)
        del data
    if not columns:
        raise ValueError(f"publish {name}: a layer of no parts")
    if rows:
        conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'fid'), :n)"),
                     {"t": staged, "n": rows})
    # GiST for map extents, and the same on the OGC view's expression for its bbox filter.
    conn.execute(text(f"CREATE INDEX ON {staged} USING gist (geom)"))
    conn.execute(text(f"CREATE INDEX ON {staged} USING gist (({OGC_GEOMETRY}))"))
    for col, label in labels.items():
        if col and col not in attributes:
            continue
        target = f"TABLE {staged}" if col == "" else f"COLUMN {staged}.{_ident(col)}"
        conn.execute(text(f"COMMENT ON {target} IS {_lit(label)}"))
    return _Prepared(attributes, signature, None, np.concatenate(hashes), part_rows,
                     dict(zip(layer.parts, layer.built_by, strict=True)))


def _row_hashes(layer: Parted, part: str, data: gpd.GeoDataFrame) -> difference.Hashes:
    """The row hashes of `part` read (`data`): made before where the layer gives them
    (`Parted.hashed`: a view hashed aside while the partitioned layers were published),
    else made now."""
    made = layer.hashed(part) if layer.hashed is not None else None
    return made if made is not None and len(made) == len(data) else difference.row_hashes(data)


def _lock_published(conn: Connection, names: list[str], timeout_s: float) -> None:
    """Take the published tables and their OGC views before the swap, waiting `timeout_s`
    in all for the sessions that read them; PublishLockTimeout names who held one."""
    started = time.monotonic()
    relations = [r for name in names for r in (f"publish.{name}", f"ogc.{name}")]
    for relation in relations:
        exists = conn.execute(text("SELECT to_regclass(:r) IS NOT NULL"), {"r": relation})
        if not exists.scalar():
            continue
        left_ms = max(1, round((timeout_s - (time.monotonic() - started)) * 1000))
        conn.execute(text("SELECT set_config('lock_timeout', :v, true)"), {"v": f"{left_ms}ms"})
        try:
            conn.execute(text(f"LOCK TABLE {relation} IN ACCESS EXCLUSIVE MODE"))
        except OperationalError as e:
            if not isinstance(e.orig, psycopg.errors.LockNotAvailable):
                raise
            waited = time.monotonic() - started
            raise PublishLockTimeout(_lock_message(conn, relation, waited, timeout_s)) from e
    conn.execute(text("SELECT set_config('lock_timeout', '0', true)"))


def _lock_message(conn: Connection, relation: str, waited: float, timeout_s: float) -> str:
    """Who holds `relation`, asked on a connection of its own (this transaction has failed):
    pid, application, state and for how long; never the query, which may hold data."""
    me = _driver(conn).info.backend_pid
    with conn.engine.connect() as other:
        rows = other.execute(text(
            "SELECT DISTINCT a.pid, a.application_name, a.state, a.usename, "
            "round(extract(epoch FROM now() - a.xact_start)) AS xact_s "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'relation' AND l.granted AND l.relation = to_regclass(:r) "
            "AND l.pid <> :me ORDER BY a.pid"), {"r": relation, "me": me}).all()
    holders = "; ".join(
        f"pid {r.pid} (application_name {r.application_name or ''!r}, user {r.usename!r}, "
        f"state {r.state!r}, transaction open "
        f"{'?' if r.xact_s is None else f'{r.xact_s:.0f}'} s)" for r in rows) \
        or "a session that has let go since"
    layer = relation.split(".", 1)[1]
    return (f"publish gave up on layer {layer!r}: it waited {waited:.1f} s "
            f"({LOCK_TIMEOUT_ENV}={timeout_s:g}) for an exclusive lock on {relation}, held by "
            f"{holders}. Nothing was published; the layers in place are unchanged. End that "
            "transaction (COMMIT or ROLLBACK, or pg_terminate_backend(pid)) and publish again.")


def _create_ogc_view(conn: Connection, name: str, attributes: list[str]) -> None:
    columns = ", ".join(_ident(c) for c in ["fid", *attributes])
    conn.execute(text(f"CREATE VIEW ogc.{name} AS SELECT {columns}, "
                      f"{OGC_GEOMETRY} AS geom FROM publish.{name}"))
    conn.execute(text(f"COMMENT ON VIEW ogc.{name} IS "
                      f"{_lit(f'publish.{name} for the OGC API: EPSG:4490, latitude first')}"))
    conn.execute(text(f"GRANT SELECT ON ogc.{name} TO yitu_ogc_reader"))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(s: str) -> str:
    """A SQL string literal for COMMENT (which takes no bind parameters); `:` escaped for text()."""
    return "'" + s.replace("'", "''").replace(":", r"\:") + "'"
