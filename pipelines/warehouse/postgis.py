"""The production warehouse: PostGIS, schemas audit / core / dq / publish."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import geopandas as gpd
from sqlalchemy import Connection, create_engine, text

from pipelines.contracts import Contract, all_contracts
from pipelines.warehouse.base import Finalize, Warehouse, conform_types
from pipelines.warehouse.ddl import core_ddl
from pipelines.warehouse.tables import audit_tables

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
SCHEMAS = ("audit", "core", "dq", "publish", "publish_staging", "ogc")
# The OGC API (pygeoapi, deploy/pygeoapi/) reads ogc.<layer>: the published table with its
# geometry in EPSG:4490's own axis order, latitude first. pygeoapi takes stored coordinates to
# follow the storage CRS's axis order and reprojects with pyproj on that assumption, while
# PostGIS keeps longitude first; without the flip CRS84 output would come out swapped.
OGC_GEOMETRY = "ST_FlipCoordinates(geom)"


class PostgisWarehouse(Warehouse):
    def __init__(self, url: str) -> None:
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        self.url = url
        self.engine = create_engine(url, pool_pre_ping=True)
        self.tables = audit_tables(schemas=True)

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
            conn.exec_driver_sql((SQL_DIR / "roles.sql").read_text("utf-8"))

    def load_core(self, contract: Contract, frame: gpd.GeoDataFrame, drop_id: str,
                  loaded_at: datetime, finalize: Finalize) -> None:
        table = f"core.{contract.dataset}"
        data = frame.copy()
        data["_valid_from"] = loaded_at
        data["_valid_to"] = None
        data = conform_types(contract, data)
        with self.engine.begin() as conn:  # one transaction per drop
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                         {"k": f"yitu.load.{contract.dataset}"})
            conn.execute(text(f"DELETE FROM {table} WHERE _drop_id = :d"), {"d": drop_id})
            if len(data):
                data.to_postgis(contract.dataset, conn, schema="core", if_exists="append",
                                index=False)
            conn.execute(text(self.close_sql(contract, table)),
                         {"drop_id": drop_id, "loaded_at": loaded_at})
            finalize(conn)

    def read_current(self, contract: Contract) -> gpd.GeoDataFrame:
        sql = f"SELECT * FROM core.{contract.dataset} WHERE _valid_to IS NULL"
        with self.engine.connect() as conn:
            gdf = gpd.read_postgis(sql, conn, geom_col="geom")
        return gdf.drop(columns=["_version_id"])

    def read_drop_versions(self, contract: Contract, drop_id: str,
                           columns: list[str]) -> gpd.GeoDataFrame:
        sql = (f"SELECT {', '.join(columns)}, geom FROM core.{contract.dataset} "
               "WHERE _drop_id = %(d)s OR _closed_by = %(d)s")
        with self.engine.connect() as conn:
            return gpd.read_postgis(sql, conn, geom_col="geom", params={"d": drop_id})

    def publish(self, layers: dict[str, gpd.GeoDataFrame],
                labels: dict[str, dict[str, str]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('yitu.publish'))"))
            for name, gdf in layers.items():
                data = gdf.rename_geometry("geom") if gdf.geometry.name != "geom" else gdf
                data.to_postgis(name, conn, schema="publish_staging", if_exists="replace",
                                index=False)
                staged = f"publish_staging.{name}"
                kinds = set(data.geometry.dropna().geom_type)
                if len(kinds) == 1:
                    # geopandas falls back to a generic column when some rows have no geometry.
                    conn.execute(text(f"ALTER TABLE {staged} ALTER COLUMN geom TYPE "
                                      f"geometry({kinds.pop()}, 4490)"))
                # QGIS edits and identifies features by a primary key; GiST for map extents.
                conn.execute(text(f"ALTER TABLE {staged} ADD COLUMN fid bigserial PRIMARY KEY"))
                conn.execute(text(f"CREATE INDEX ON {staged} USING gist (geom)"))
                # the same index for the OGC view's bbox filter, on the view's expression
                conn.execute(text(f"CREATE INDEX ON {staged} USING gist (({OGC_GEOMETRY}))"))
                for col, label in labels.get(name, {}).items():
                    if col and col not in data.columns:
                        continue
                    target = f"TABLE {staged}" if col == "" else f'COLUMN {staged}."{col}"'
                    conn.execute(text(f"COMMENT ON {target} IS {_lit(label)}"))
            # The swap: within this transaction, so readers see the old layers or the new.
            # A view is bound to its table, not to the name: the OGC view goes and comes back
            # with the table it shows.
            for name, gdf in layers.items():
                conn.execute(text(f"DROP VIEW IF EXISTS ogc.{name}"))
                conn.execute(text(f"DROP TABLE IF EXISTS publish.{name}"))
                conn.execute(text(f"ALTER TABLE publish_staging.{name} SET SCHEMA publish"))
                conn.execute(text(f"GRANT SELECT ON publish.{name} TO yitu_analyst, yitu_monitor"))
                _create_ogc_view(conn, name, [c for c in gdf.columns if c != gdf.geometry.name])

    def read_published(self, layer: str) -> gpd.GeoDataFrame:
        with self.engine.connect() as conn:
            return gpd.read_postgis(f"SELECT * FROM publish.{layer}", conn, geom_col="geom")

    def published_layers(self) -> list[str]:
        df = self.read_table("SELECT tablename FROM pg_tables WHERE schemaname = 'publish' "
                             "ORDER BY tablename")
        return list(df["tablename"])


def _create_ogc_view(conn: Connection, name: str, attributes: list[str]) -> None:
    columns = ", ".join('"' + c.replace('"', '""') + '"' for c in ["fid", *attributes])
    conn.execute(text(f"CREATE VIEW ogc.{name} AS SELECT {columns}, "
                      f"{OGC_GEOMETRY} AS geom FROM publish.{name}"))
    conn.execute(text(f"COMMENT ON VIEW ogc.{name} IS "
                      f"{_lit(f'publish.{name} for the OGC API: EPSG:4490, latitude first')}"))
    conn.execute(text(f"GRANT SELECT ON ogc.{name} TO yitu_analyst, yitu_monitor"))


def _lit(s: str) -> str:
    """A SQL string literal for COMMENT (which takes no bind parameters); `:` escaped for text()."""
    return "'" + s.replace("'", "''").replace(":", r"\:") + "'"
