"""The PostGIS DDL of a core table, derived from its dataset contract.

PostGIS runs it when the warehouse is set up; `python -m pipelines.codegen` also writes it to
`sql/core_<dataset>.sql`, so reviewers read what a contract makes of the warehouse.
"""

from __future__ import annotations

from pipelines.contracts import Contract
from pipelines.warehouse.columns import core_columns, geometry_sql


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def core_ddl(contract: Contract) -> str:
    t = f"core.{contract.dataset}"
    lines = [f"-- Generated from schemas/{contract.dataset}.yml by `python -m pipelines.codegen`;",
             "-- do not edit by hand.",
             f"CREATE TABLE IF NOT EXISTS {t} (",
             "    _version_id bigserial PRIMARY KEY,"]
    for c in core_columns(contract):
        not_null = " NOT NULL" if c.name in ("_drop_id", "_source_row", "_valid_from") else ""
        lines.append(f"    {c.name} {c.sql_type}{not_null},")
    lines.append(f"    geom {geometry_sql(contract)}")
    lines.append(");")
    # The spatial index holds the current rows only (every spatial read asks for them):
    # closing a version then adds no entry to it (a county's 106 thousand parcels sent again
    # inserted as many polygons into it), and the versions kept as history never grow it.
    # It replaces the whole-table index of a warehouse set up before.
    lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_geom_current ON {t} "
                 "USING gist (geom) WHERE _valid_to IS NULL;")
    lines.append(f"DROP INDEX IF EXISTS core.{contract.dataset}_geom_gist;")
    lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_drop ON {t} (_drop_id);")
    # The versions a drop closed (`_closed_by`), for reading what it changed
    # (`drop_versions`: its rows and those it replaced) in the drop's rows, not a scan
    # of every version the table keeps: at 1x a county's parcels sent again were read back
    # (twice, by the changes and the delivery's profile) through a parallel sequential scan
    # of 1.07 million versions, a scan that grows with the history kept. Only closed
    # versions are in it: a load adds no entry, its close one per version replaced.
    lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_closed_by ON {t} "
                 "(_closed_by) WHERE _closed_by IS NOT NULL;")
    if contract.key_column:
        lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_current ON {t} "
                     f"({contract.key_column}) WHERE _valid_to IS NULL;")
    if contract.snapshot_by:
        # A snapshot replaces the current rows of the counties it covers: they are found
        # through this index, not among every current row of the province.
        scope = contract.snapshot_by.lower()
        lines.append(f"CREATE INDEX IF NOT EXISTS {contract.dataset}_{scope}_current ON {t} "
                     f"({scope}) WHERE _valid_to IS NULL;")
    lines.append(f"COMMENT ON TABLE {t} IS "
                 f"{_sql_literal(f'{contract.title}（{contract.department}）')};")
    for c in core_columns(contract):
        lines.append(f"COMMENT ON COLUMN {t}.{c.name} IS {_sql_literal(c.label)};")
    lines.append(f"COMMENT ON COLUMN {t}.geom IS {_sql_literal('几何（CGCS2000, EPSG:4490）')};")
    return "\n".join(lines) + "\n"


# Where an integration run's tasks hand each other frames (pipelines/warehouse/staging.py):
# one row per staged part of a run (its inputs, or a partition), its frames as GeoParquet in
# pieces. UNLOGGED: written once per run and read back within it; a server crash empties it,
# and the next full run stages everything again. Only the loader may use the schema: neither
# the analyst nor the monitor role is granted it (sql/roles.sql).
STAGING_DDL = """
CREATE SCHEMA IF NOT EXISTS staging;
REVOKE ALL ON SCHEMA staging FROM PUBLIC;
-- A warehouse staged before frames were shared: its frames table (bytes beside each run's
-- name) set aside, moved into the shape below at the end, then dropped.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = 'staging'
               AND table_name = 'frames' AND column_name = 'data') THEN
        ALTER TABLE staging.frames RENAME TO frames_v1;
        ALTER INDEX staging.frames_pkey RENAME TO frames_v1_pkey;
    END IF;
END $$;
CREATE UNLOGGED TABLE IF NOT EXISTS staging.parts (
    run_id text NOT NULL,
    part text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, part)
);
-- A staged frame names its bytes: a run adopting another's part, or carrying its frames,
-- adds names, never copies of the bytes. Bytes no frame names are dropped on publishing.
CREATE UNLOGGED TABLE IF NOT EXISTS staging.frames (
    run_id text NOT NULL,
    part text NOT NULL,
    frame text NOT NULL,
    blob uuid NOT NULL,
    PRIMARY KEY (run_id, part, frame),
    FOREIGN KEY (run_id, part) REFERENCES staging.parts ON DELETE CASCADE
);
CREATE UNLOGGED TABLE IF NOT EXISTS staging.blobs (
    blob uuid NOT NULL,
    piece integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (blob, piece)
);
-- Parquet is compressed already: stored out of line as it is, not compressed again.
ALTER TABLE staging.blobs ALTER COLUMN data SET STORAGE EXTERNAL;
DO $$
BEGIN
    IF to_regclass('staging.frames_v1') IS NOT NULL THEN
        INSERT INTO staging.frames (run_id, part, frame, blob)
        SELECT run_id, part, frame, gen_random_uuid() FROM staging.frames_v1
        GROUP BY run_id, part, frame;
        INSERT INTO staging.blobs (blob, piece, data)
        SELECT f.blob, o.piece, o.data FROM staging.frames_v1 o
        JOIN staging.frames f USING (run_id, part, frame);
        DROP TABLE staging.frames_v1;
    END IF;
END $$;
COMMENT ON TABLE staging.parts IS 'integration runs'' staged inputs and partitions (not for analysts)';
COMMENT ON TABLE staging.frames IS 'the frames of a staged part, each naming its GeoParquet bytes';
COMMENT ON TABLE staging.blobs IS 'staged GeoParquet bytes in pieces, shared by the frames naming them';
"""
