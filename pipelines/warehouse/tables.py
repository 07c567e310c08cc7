"""Audit and data-quality tables: plain SQLAlchemy Core, the same on PostGIS and GeoPackage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
)


@dataclass(frozen=True)
class AuditTables:
    metadata: MetaData
    drops: Table
    quarantine: Table
    validation_stats: Table
    pbf_changes: Table
    meta: Table
    accounts: Table
    login_failures: Table
    portal_uploads: Table


def audit_tables(schemas: bool) -> AuditTables:
    """PostGIS keeps them in schemas `audit` and `dq`; a GeoPackage has no schemas, so prefixes."""
    md = MetaData()

    def table(schema: str, tbl: str, *cols: Column[Any]) -> Table:
        if schemas:
            return Table(tbl, md, *cols, schema=schema)
        return Table(f"{schema}__{tbl}", md, *cols)

    drops = table(
        "audit", "drops",
        Column("drop_id", Text, primary_key=True),
        Column("dataset", Text, nullable=False, index=True),
        Column("file", Text, nullable=False),
        Column("sha256", Text, nullable=False, index=True),
        Column("size_bytes", Integer, nullable=False),
        Column("raw_path", Text, nullable=False),
        Column("received_at", DateTime(timezone=True), nullable=False),
        Column("state", Text, nullable=False),
        Column("duplicate_of", Text),
        Column("rows_read", Integer),
        Column("rows_loaded", Integer),
        Column("rows_quarantined", Integer),
        Column("rows_flagged", Integer),
        Column("errors", Text),  # JSON list of {rule, message, row?, field?}
        Column("notes", Text),  # JSON: what the reader decided (encoding, CRS, header mapping)
        Column("processed_at", DateTime(timezone=True)),
    )
    def per_drop(*, dataset: bool = True) -> list[Column[Any]]:
        """The columns every dq table starts with: its own id and the drop it is about."""
        cols: list[Column[Any]] = [Column("id", Integer, primary_key=True, autoincrement=True),
                                   Column("drop_id", Text, nullable=False, index=True)]
        return cols + ([Column("dataset", Text, nullable=False)] if dataset else [])

    quarantine = table(
        "dq", "quarantine", *per_drop(),
        Column("source_row", Integer, nullable=False),
        Column("field", Text),
        Column("rule", Text, nullable=False),
        Column("severity", Text, nullable=False),
        Column("message", Text, nullable=False),
        Column("value", Text),  # masked where personal
        Column("record", Text),  # the row as JSON, personal data already tokenised
    )
    validation_stats = table(
        "dq", "validation_stats", *per_drop(),
        Column("expectation", Text, nullable=False),
        Column("rule", Text),
        Column("field", Text),
        Column("severity", Text),
        Column("success", Boolean, nullable=False),
        Column("element_count", Integer, nullable=False),
        Column("unexpected_count", Integer, nullable=False),
    )
    # Per delivery of permanent basic farmland and county: what it lost (pipelines.load.changes).
    pbf_changes = table(
        "dq", "farmland_pbf_changes", *per_drop(dataset=False),
        Column("county_code", Text, nullable=False),
        Column("parcels_before", Integer, nullable=False),
        Column("parcels_after", Integer, nullable=False),
        Column("parcels_removed", Integer, nullable=False),
        Column("removed_ids", Text),  # JSON list of YJJBNTTBBH, capped
        Column("area_before_mu", Float, nullable=False),
        Column("area_after_mu", Float, nullable=False),
        Column("area_lost_m2", Float, nullable=False),
        Column("area_lost_mu", Float, nullable=False),
        Column("shrunk", Boolean, nullable=False),
    )
    # The warehouse's own state: what it was set up for, what the published layers were built
    # from (`setup`, `published_from`).
    meta = table("audit", "meta", Column("key", Text, primary_key=True),
                 Column("value", Text, nullable=False))
    # The department portal (pipelines/portal, pipelines/accounts.py): who may sign in, the
    # failed sign-ins that lock a login or an address (kept here so a restart forgets nothing),
    # and which upload became which drop.
    accounts = table("audit", "accounts", Column("login", Text, primary_key=True),
                     Column("department", Text, nullable=False),
                     Column("role", Text, nullable=False),
                     Column("password_hash", Text, nullable=False),  # argon2id, never the password
                     Column("disabled", Boolean, nullable=False),
                     Column("created_at", DateTime(timezone=True), nullable=False))
    login_failures = table("audit", "login_failures",
                           Column("id", Integer, primary_key=True, autoincrement=True),
                           Column("subject", Text, nullable=False, index=True),  # login: / addr:
                           Column("failed_at", DateTime(timezone=True), nullable=False))
    portal_uploads = table("audit", "portal_uploads", Column("upload_id", Text, primary_key=True),
                           Column("login", Text, nullable=False),
                           Column("dataset", Text, nullable=False),
                           Column("file", Text, nullable=False),  # the name shown, sanitised
                           Column("landed_as", Text, nullable=False),
                           Column("sha256", Text, nullable=False),
                           Column("size_bytes", Integer, nullable=False),
                           Column("received_at", DateTime(timezone=True), nullable=False))
    return AuditTables(md, drops, quarantine, validation_stats, pbf_changes, meta, accounts,
                       login_failures, portal_uploads)
