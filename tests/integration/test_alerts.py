"""Alerts against a real SMTP server (aiosmtpd) and a real HTTP server on 127.0.0.1: the right
people get one message per event, a second run sends nothing, and a mail server that is down
delays the alerts (sent on a later run) and never the pipeline."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from pipelines import runner
from pipelines.alerts import ledger_rows
from pipelines.config import settings
from pipelines.contracts import all_contracts, load_contract, load_region
from pipelines.integrate.assessment_departments import department_quarters
from pipelines.integrate.assessment_sources import delivery_rows
from pipelines.landing.drops import drop_file
from tests.integration.alert_servers import MailServer, WebhookServer

MONITORS = {c.email for c in load_region().monitors}


def _clerks(dataset: str) -> set[str]:
    return {c.email for c in load_contract(dataset).contacts}


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MailServer, WebhookServer]]:
    mail, hook = MailServer(), WebhookServer()
    mail.start()
    monkeypatch.setenv("YITU_SMTP_URL", mail.url)
    monkeypatch.setenv("YITU_ALERT_FROM", "yitu-alerts@example.gov.cn")
    monkeypatch.setenv("YITU_ALERT_WEBHOOK", hook.url)
    yield mail, hook
    mail.stop()
    hook.close()


def _refused_orders(folder: Path) -> Path:
    """Work orders with 30 % unknown order types: above the threshold, the file is refused."""
    path = folder / "工单-退回.csv"
    pd.DataFrame({"GDBH": [f"G{i}" for i in range(10)], "SLSJ": ["2026-11-02 09:00:00"] * 10,
                  "GDLX": ["投诉"] * 7 + ["吐槽"] * 3, "XZQDM": ["460105"] * 10}
                 ).to_csv(path, index=False, encoding="gb18030")
    return path


def test_each_person_gets_one_message_per_event_once(home: Path, tmp_path: Path,
                                                     servers: tuple[MailServer, WebhookServer]
                                                     ) -> None:
    mail, hook = servers
    drop_file(settings(), _refused_orders(tmp_path), "complaints")
    [rec] = runner.run_all(settings()).drops
    assert rec.state == "rejected"

    # the refused file, and every dataset never delivered (a refused file was delivered)
    expected = {f"rejected:{rec.drop_id}": _clerks("complaints") | MONITORS}
    expected |= {f"missing:{c.dataset}": _clerks(c.dataset) | MONITORS
                 for c in all_contracts() if c.dataset != "complaints"}
    got = MailServer.per_event(mail.take())
    assert {k: set(v) for k, v in got.items()} == expected
    assert all(set(v.values()) == {1} for v in got.values())  # one message each
    assert sorted(p["key"] for p in hook.take()) == sorted(expected)  # one post per event

    runner.run_all(settings())  # nothing new: nothing sent
    assert mail.take() == [] and hook.take() == []
    rows = ledger_rows(runner.warehouse(settings()))
    assert len(rows) == sum(len(v) for v in expected.values()) + len(expected)
    assert {r["state"] for r in rows} == {"sent"} and {r["attempts"] for r in rows} == {1}

    # the assessment's delivery quality: the three bad rows, by the county they state
    refused = delivery_rows(runner.warehouse(settings()))
    assert refused[["drop_id", "county_code", "rows", "rejected"]].values.tolist() == [
        [rec.drop_id, "460105", 3, 3]]

    # the departments' quarter: the hotline delivered once (on time) and every row of its
    # file was refused; the others were expected once and sent nothing
    quarters = department_quarters(runner.warehouse(settings())).set_index("department")
    hotline = quarters.loc[load_contract("complaints").department]
    assert quarters["quarter"].nunique() == 1
    assert (hotline["deliveries_on_time"], hotline["deliveries_missing"]) == (1, 0)
    assert (hotline["rows_received"], hotline["rows_rejected"], hotline["validity"]) == (10, 10, 0)
    others = quarters.drop(index=hotline.name)
    assert set(others.index) == {c.department for c in all_contracts()} - {hotline.name}
    assert (others["deliveries_missing"] == others["datasets"]).all()
    assert (others["deliveries_on_time"] == 0).all() and (others["score"] == 0).all()
    # the report's scorecard per quarter: completeness (required values), validity, timeliness
    parts = [v for v in (hotline["completeness"], 0.0, 1.0) if not pd.isna(v)]
    assert hotline["score"] == pytest.approx(100 * sum(parts) / len(parts), abs=0.01)


def test_rejected_message_names_the_file_and_what_to_do(
        yitu_env: Path, tmp_path: Path, servers: tuple[MailServer, WebhookServer]) -> None:
    mail, hook = servers
    drop_file(settings(), _refused_orders(tmp_path), "complaints")
    runner.run_all(settings())
    [clerk] = [m for rcpt, m in mail.take() if rcpt in _clerks("complaints")
               and str(m["X-Yitu-Event"]).startswith("rejected:")]
    body = clerk.get_content()
    assert "文件被退回：工单-退回.csv" in str(clerk["Subject"])
    assert "12345热线工单" in body and "处理办法" in body and "too_many_bad_rows" in body
    assert "yitu template complaints" in body
    [post] = [p for p in hook.take() if p["kind"] == "rejected"]
    assert post["file"] == "工单-退回.csv" and post["dataset"] == "complaints"


# -- one pipeline on the sample, the mail server down for a while -------------------------------

def _shrunk_county(sample: Path, out: Path) -> tuple[Path, str]:
    """One county's permanent farmland delivered again with five parcels gone."""
    parcels = gpd.read_file(sample / "farmland_pbf.zip")
    county = str(parcels["XZQDM"].value_counts().index[0])
    path = out / f"永久基本农田-{county}.gpkg"
    parcels[parcels["XZQDM"] == county].iloc[5:].to_file(path, layer="农田", driver="GPKG")
    return path, county


def test_a_mail_server_down_delays_alerts_not_the_pipeline(
        yitu_env: Path, sample_dir: Path, tmp_path: Path,
        servers: tuple[MailServer, WebhookServer]) -> None:
    mail, hook = servers
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    summary = runner.run_all(s)
    assert summary.published["county_assessment"] > 0
    wh = runner.warehouse(s)
    assessed = pd.DataFrame(wh.read_published("county_assessment"))
    missed = assessed[(assessed["quarter"] == "2026Q3") & (
        ~assessed["satisfaction_met"].astype("boolean").fillna(True)
        | ~assessed["resolution_met"].astype("boolean").fillna(True)
        | ~assessed["complaints_per_10k_met"].astype("boolean").fillna(True))]
    got = MailServer.per_event(mail.take())
    assert len(missed) > 0  # (the sample's 2026Q3 is over by now; 2026Q4 is not judged yet)
    assert got == {f"below_target:{r.county_code}:2026Q3": Counter({e: 1 for e in MONITORS})
                   for r in missed.itertuples()}
    hook.take()

    mail.stop()  # the mail server goes down; a farmland delivery loses parcels
    path, county = _shrunk_county(sample_dir, tmp_path)
    drop_file(s, path, "farmland_pbf")
    started = time.monotonic()
    summary = runner.run_all(s)  # does not raise
    assert [d.state for d in summary.drops] == ["loaded"]
    assert time.monotonic() - started < 120
    shrunk_key = f"pbf_shrunk:{summary.drops[0].drop_id}:{county}"
    assert [p["key"] for p in hook.take()] == [shrunk_key]  # the webhook was up
    waiting = [r for r in ledger_rows(wh) if r["state"] == "pending"]
    assert {(r["event_key"], r["recipient"]) for r in waiting} == {
        (shrunk_key, e) for e in _clerks("farmland_pbf") | MONITORS}
    assert all(r["attempts"] <= 1 and r["channel"] == "email" for r in waiting)
    assert any(r["last_error"] for r in waiting)

    mail.start()  # back up: the next run delivers what waited, once
    runner.run_all(s)
    mails = mail.take()
    assert MailServer.per_event(mails) == {
        shrunk_key: Counter({e: 1 for e in _clerks("farmland_pbf") | MONITORS})}
    body = mails[0][1].get_content()
    assert county in body and "亩" in body and "处理办法" in body
    assert {r["state"] for r in ledger_rows(wh)} == {"sent"}
    runner.run_all(s)
    assert mail.take() == [] and hook.take() == []

    # the published assessment against counts made here from the enriched work orders
    orders = pd.DataFrame(wh.read_published("complaints_enriched")).dropna(
        subset=["county_code"])
    orders["quarter"] = pd.PeriodIndex(pd.to_datetime(orders["received_at"]), freq="Q").astype(
        str)
    counted = orders.groupby(["county_code", "quarter"]).size()
    assessed = pd.DataFrame(wh.read_published("county_assessment")).set_index(
        ["county_code", "quarter"])
    assert (assessed["complaints"].reindex(counted.index) == counted).all()
    assert assessed["complaints"].sum() == counted.sum()
    evaluated = orders[orders["satisfaction"].isin(["满意", "基本满意", "不满意"])]
    satisfied = evaluated["satisfaction"].isin(["满意", "基本满意"]).groupby(
        [evaluated["county_code"], evaluated["quarter"]]).mean().round(4)
    assert (assessed["satisfaction_rate"].reindex(satisfied.index) == satisfied).all()
    assert (assessed.xs("2026Q4", level="quarter")["pbf_area_change_mu"].dropna() == 0).all()

    # a refused file changes no core data, yet the assessment's delivery quality moves with it
    before = assessed.loc[("460105", slice(None)), ["rows_delivered", "rows_rejected"]].sum()
    drop_file(s, _refused_orders(tmp_path), "complaints")
    summary = runner.run_all(s)
    assert [d.state for d in summary.drops] == ["rejected"] and summary.published
    after = pd.DataFrame(wh.read_published("county_assessment")).set_index(
        ["county_code", "quarter"]).loc[("460105", slice(None)),
                                        ["rows_delivered", "rows_rejected"]].sum()
    assert (after - before).tolist() == [3, 3]  # its three bad rows state 460105


def test_the_airflow_tasks_send_the_same_alerts(yitu_env: Path, tmp_path: Path,
                                                servers: tuple[MailServer, WebhookServer]) -> None:
    """The deliveries DAG's check and an ingest that refused a file alert at once, through the
    same ledger (not only at the next integration's report)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from pipelines.orchestration import tasks

    mail, hook = servers
    with pytest.raises(AirflowFailException):
        tasks.deliveries_due("complaints")  # never delivered
    got = MailServer.per_event(mail.take())
    assert got["missing:complaints"] == Counter({e: 1 for e in _clerks("complaints") | MONITORS})
    drop_file(settings(), _refused_orders(tmp_path), "complaints")
    tasks.detect("complaints")
    with pytest.raises(AirflowSkipException):  # refused: nothing loaded
        tasks.load("complaints")
    [key] = MailServer.per_event(mail.take())
    assert key.startswith("rejected:") and [p["key"] for p in hook.take()][-1] == key
