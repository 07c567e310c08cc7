"""The ledger of alerts (audit.alerts; `audit__alerts` in a GeoPackage): one row per event and
recipient on each channel, so the same event is never sent twice and a send that failed is
tried again on the next run, a bounded number of times.

States: `pending` (not sent yet: new, or its last attempt failed), `sent`, `abandoned` (gave up
after MAX_ATTEMPTS; the log says so), `withdrawn` (no longer so before it could be sent: the
late file came). The table belongs to the alerts alone and is created
the first time they run, on either warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    insert,
    select,
    text,
    update,
)

from pipelines.warehouse import Warehouse

MAX_ATTEMPTS = 5
STATES = ("pending", "sent", "abandoned", "withdrawn")


@dataclass(frozen=True)
class Delivery:
    """One message of one event to one recipient on one channel."""

    event_key: str
    channel: str  # email | webhook
    recipient: str  # an email address, or the webhook
    state: str = "pending"
    attempts: int = 0


def alerts_table(wh: Warehouse) -> Table:
    """The table, created if the warehouse has none yet."""
    schemas = wh.tables.drops.schema is not None
    md = MetaData()
    name, schema = ("alerts", "audit") if schemas else ("audit__alerts", None)
    table = Table(
        name, md,
        Column("event_key", Text, primary_key=True),
        Column("channel", Text, primary_key=True),
        Column("recipient", Text, primary_key=True),
        Column("kind", Text, nullable=False),
        Column("subject", Text, nullable=False),
        Column("state", Text, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("first_seen", DateTime(timezone=True), nullable=False),
        Column("sent_at", DateTime(timezone=True)),
        Column("last_error", Text),
        schema=schema,
    )
    md.create_all(wh.engine, checkfirst=True)
    if not schemas:
        with wh.engine.begin() as conn:  # listed by QGIS and ogrinfo like the other tables
            conn.execute(text("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, "
                              "identifier) VALUES (:t, 'attributes', :t)"), {"t": name})
    return table


def record_new(wh: Warehouse, table: Table, rows: list[dict[str, Any]]) -> int:
    """Add the deliveries not in the ledger yet (as pending); how many were new."""
    if not rows:
        return 0
    with wh.engine.begin() as conn:
        known = {(r.event_key, r.channel, r.recipient) for r in conn.execute(
            select(table.c.event_key, table.c.channel, table.c.recipient))}
        new = [r for r in rows if (r["event_key"], r["channel"], r["recipient"]) not in known]
        now = datetime.now(UTC)
        if new:
            conn.execute(insert(table), [{**r, "state": "pending", "attempts": 0,
                                          "first_seen": now} for r in new])
    return len(new)


def pending(wh: Warehouse, table: Table) -> list[Delivery]:
    with wh.engine.connect() as conn:
        rows = conn.execute(select(table.c.event_key, table.c.channel, table.c.recipient,
                                   table.c.state, table.c.attempts)
                            .where(table.c.state == "pending")
                            .order_by(table.c.first_seen, table.c.event_key,
                                      table.c.recipient)).all()
    return [Delivery(*r) for r in rows]


def mark(wh: Warehouse, table: Table, d: Delivery, error: str | None) -> str:
    """Record one attempt: sent, or failed (pending again, or abandoned at the last try)."""
    attempts = d.attempts + 1
    state = "sent" if error is None else "abandoned" if attempts >= MAX_ATTEMPTS else "pending"
    with wh.engine.begin() as conn:
        conn.execute(update(table).where(table.c.event_key == d.event_key,
                                         table.c.channel == d.channel,
                                         table.c.recipient == d.recipient)
                     .values(state=state, attempts=attempts, last_error=error,
                             sent_at=datetime.now(UTC) if error is None else None))
    return state


def withdraw(wh: Warehouse, table: Table, d: Delivery) -> str:
    with wh.engine.begin() as conn:
        conn.execute(update(table).where(table.c.event_key == d.event_key,
                                         table.c.channel == d.channel,
                                         table.c.recipient == d.recipient)
                     .values(state="withdrawn"))
    return "withdrawn"


def ledger_rows(wh: Warehouse) -> list[dict[str, Any]]:
    """Every delivery in the ledger, oldest first (for `yitu status` and the tests)."""
    table = alerts_table(wh)
    with wh.engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.first_seen, table.c.event_key,
                                                   table.c.channel, table.c.recipient)).all()
    return [dict(r._mapping) for r in rows]
