"""Alerts that reach people: a file refused, a delivery late or missing, permanent farmland that
shrank, a county-quarter below a target, each sent once to the department's clerks (from its
contract) and the monitors (schemas/region.yml), by email and/or a JSON webhook.

One implementation for the CLI and Airflow: `send_alerts` runs at the end of
`pipelines.runner.report`, which `yitu run`, `yitu report` and the DAGs' report task all call.
It never raises into the pipeline: a channel that fails is left for the next run (the ledger
keeps the message pending, up to `store.MAX_ATTEMPTS` tries), and the failure is logged.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from pipelines.alerts.channels import Channel, Email, Webhook
from pipelines.alerts.events import Event, collect
from pipelines.alerts.store import (
    MAX_ATTEMPTS,
    alerts_table,
    ledger_rows,
    mark,
    pending,
    record_new,
    withdraw,
)
from pipelines.config import Settings
from pipelines.warehouse import Warehouse

__all__ = ["MAX_ATTEMPTS", "Event", "channels", "ledger_rows", "send_alerts"]
log = logging.getLogger(__name__)


def channels(settings: Settings) -> list[Channel]:
    """The channels the environment configures (none: alerts are off)."""
    found: list[Channel] = []
    if settings.smtp_url:
        found.append(Email(settings.smtp_url, settings.alert_from))
    if settings.alert_webhook:
        found.append(Webhook(settings.alert_webhook))
    return found


def send_alerts(settings: Settings, wh: Warehouse, now: datetime | None = None) -> Counter[str]:
    """Record the events not seen before and send every pending message; counts per outcome
    (sent, pending, abandoned, new). Never raises: alerts must not fail a run."""
    try:
        return _send(settings, wh, now or datetime.now(UTC))
    except Exception:  # noqa: BLE001 - whatever went wrong, the run that called us goes on
        log.exception("alerts: not sent this time; they are tried again on the next run")
        return Counter(error=1)


def _send(settings: Settings, wh: Warehouse, now: datetime) -> Counter[str]:
    outlets = channels(settings)
    outcome: Counter[str] = Counter()
    if not outlets:
        return outcome
    table = alerts_table(wh)
    events = {e.key: e for e in collect(wh, now)}
    outcome["new"] = record_new(wh, table, [
        {"event_key": e.key, "channel": c.name, "recipient": r, "kind": e.kind,
         "subject": e.subject} for e in events.values() for c in outlets for r in c.recipients(e)])
    by_name = {c.name: c for c in outlets}
    down: set[str] = set()  # a channel that failed once this run is not tried again this run
    try:
        for d in pending(wh, table):
            channel, event = by_name.get(d.channel), events.get(d.event_key)
            if event is None:  # no longer so (the late file came): never sent out of date
                outcome[withdraw(wh, table, d)] += 1
                continue
            if channel is None or d.channel in down:  # switched off, or down: it waits
                outcome["pending"] += 1
                continue
            try:
                channel.send(event, d.recipient)
                error = None
            except Exception as exc:  # noqa: BLE001 - any failure of a send is the ledger's
                error = f"{type(exc).__name__}: {exc}"[:500]
                down.add(d.channel)
                channel.close()
            state = mark(wh, table, d, error)
            outcome[state] += 1
            if state == "abandoned":
                log.error("alert %s to %s by %s abandoned after %d attempts: %s", d.event_key,
                          d.recipient, d.channel, MAX_ATTEMPTS, error)
            elif error:
                log.warning("alert %s to %s by %s not sent (attempt %d of %d, retried on the "
                            "next run): %s", d.event_key, d.recipient, d.channel,
                            d.attempts + 1, MAX_ATTEMPTS, error)
    finally:
        for c in outlets:
            c.close()
    if outcome["sent"] or outcome["new"]:
        log.info("alerts: %d new, %d sent, %d pending", outcome["new"], outcome["sent"],
                 outcome["pending"])
    return outcome
