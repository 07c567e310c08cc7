"""Audit and data-quality tables: plain SQLAlchemy Core, the same on PostGIS and GeoPackage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
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
    integration_runs: Table
    integration_stages: Table


def audit_tables(schemas: bool) -> AuditTables:
    """PostGIS keeps them in schemas `audit` and `dq`; a GeoPackage has no schemas, so prefixes."""
    md = MetaData()

    def table(schema: str, tbl: str, *cols: Column[Any], **kw: Any) -> Table:
        if schemas:
            return Table(tbl, md, *cols, schema=schema, **kw)
        return Table(f"{schema}__{tbl}", md, *cols, **kw)

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
    # The report's failing rows (`report.rules.failing_samples`): each drop's, rule's and
    # field's first rows ranked from this index, never sorted out of every failure's record.
    Index(f"{quarantine.name}_samples", quarantine.c.drop_id, quarantine.c.rule,
          quarantine.c.field, quarantine.c.source_row, quarantine.c.id)
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
    runs, stages = _integration_tables(table)
    return AuditTables(md, drops, quarantine, validation_stats, pbf_changes, meta, accounts,
                       login_failures, portal_uploads, runs, stages)


def _integration_tables(table: Callable[..., Table]) -> tuple[Table, Table]:
    """What each integration run cost (pipelines/runner/runlog.py): one row per run, and one
    per stage of it (per county for the county tasks), each written by the task that ran it,
    so concurrent tasks never update one another's rows and a retried task replaces its own."""
    runs = table(
        "audit", "integration_runs",
        Column("run_id", Text, primary_key=True, comment="cli-<time>, or the Airflow run key"),
        Column("route", Text, nullable=False, comment="cli | airflow"),
        Column("dag_run_id", Text, comment="the Airflow DagRun (route airflow)"),
        Column("state", Text, nullable=False, comment="planned | built | published | failed"),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True), comment="published, or failed, at"),
        Column("as_of", DateTime, comment="the moment deadlines are judged at (local time)"),
        Column("core_version", Text, comment="what core held when the run was planned"),
        Column("county", Text, comment="a run for this county only"),
        Column("full_rebuild", Boolean, comment="every partition rebuilt (--full)"),
        Column("counties", Integer, comment="county tasks planned"),
        Column("partitions_built", Integer),
        Column("partitions_taken", Integer, comment="taken over from the published run"),
        Column("rows_published", Integer),
        Column("error", Text, comment="the first stage that failed and why"),
        Column("built", Text, comment="JSON list of the partitions built"),
        comment="integration runs: one row per run (yitu run, or a yitu_integrate DagRun)",
    )
    Index(f"{runs.name}_started", runs.c.started_at)
    stages = table(
        "audit", "integration_stages",
        Column("run_id", Text, ForeignKey(runs.c.run_id, ondelete="CASCADE"), primary_key=True),
        Column("stage", Text, primary_key=True,
               comment="plan | integrate.read | integrate | publish | report"),
        Column("county", Text, primary_key=True, comment="'' for a stage of the whole run"),
        Column("task", Text, nullable=False, comment="the Airflow task, or yitu run"),
        Column("try_number", Integer),
        Column("host", Text, nullable=False),
        Column("pid", Integer, nullable=False),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("seconds", Float, nullable=False),
        Column("cpu_seconds", Float, nullable=False),
        Column("rows", Integer),
        Column("peak_rss_mib", Float, nullable=False,
               comment="peak resident memory of the task's process so far"),
        Column("error", Text, comment="why the stage failed; null when it succeeded"),
        comment="integration runs: what each stage cost, per county for the county tasks",
    )
    return runs, stages


def create_indexes(conn: Connection, tables: AuditTables) -> None:
    """Every index of the audit and dq tables: `create_all` makes a new table's, not one
    added since to a table the warehouse already has."""
    for table in tables.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)
