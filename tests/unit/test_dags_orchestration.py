"""The pieces Airflow runs, without a scheduler: the landing trigger, the locks, the retry
classification, the manual reprocess of a drop."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy.exc

from pipelines.config import Settings, UsageError, settings
from pipelines.landing.drops import drop_file
from pipelines.orchestration.policy import is_transient
from pipelines.orchestration.triggers import LandingDropTrigger, new_arrivals, ready_in_landing
from pipelines.runner.locks import exclusive

WAIT = 5.0  # seconds an expected event may take at a 0.05 s poll


def _source(tmp_path: Path, name: str = "licenses.csv", body: str = "ZZBH\nA1\n") -> Path:
    src = tmp_path / "src" / name
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(body, encoding="utf-8")
    return src


async def _next(events: asyncio.Queue[dict], timeout: float) -> dict | None:  # type: ignore[type-arg]
    try:
        return await asyncio.wait_for(events.get(), timeout)
    except TimeoutError:
        return None


async def _consume(trigger: LandingDropTrigger, into: asyncio.Queue[dict]) -> None:  # type: ignore[type-arg]
    # As the triggerer does: one task iterates the trigger for its whole life.
    async for event in trigger.run():
        await into.put(dict(event.payload))


def test_new_arrivals_fire_once_per_file_version() -> None:
    assert new_arrivals({}, {"a.csv": (1, 10)}) == ["a.csv"]
    assert new_arrivals({"a.csv": (1, 10)}, {"a.csv": (1, 10)}) == []
    assert new_arrivals({"a.csv": (1, 10)}, {"a.csv": (2, 20), "b.csv": (1, 5)}) == [
        "a.csv", "b.csv"]


def test_ready_means_what_the_landing_protocol_says(yitu_env: Path, tmp_path: Path) -> None:
    folder = settings().landing / "licenses"
    assert ready_in_landing(folder) == {}  # no folder yet: nothing, no error
    target = drop_file(settings(), _source(tmp_path), "licenses")
    (folder / ".copying.csv.part").write_text("half", encoding="utf-8")  # hidden: in flight
    (folder / "fresh.csv").write_text("ZZBH\n", encoding="utf-8")  # no marker, not yet stable
    assert list(ready_in_landing(folder)) == [target.name]


def test_trigger_fires_once_per_drop_and_again_for_a_new_one(yitu_env: Path,
                                                              tmp_path: Path) -> None:
    trigger = LandingDropTrigger(dataset="licenses", poll_seconds=0.05)
    classpath, kwargs = trigger.serialize()
    assert classpath == "pipelines.orchestration.triggers.LandingDropTrigger"
    assert kwargs == {"dataset": "licenses", "poll_seconds": 0.05}

    async def scenario() -> list[dict | None]:
        events: asyncio.Queue[dict] = asyncio.Queue()  # type: ignore[type-arg]
        watching = asyncio.create_task(_consume(trigger, events))
        seen = [await _next(events, 0.3)]  # empty landing zone: no event
        target = drop_file(settings(), _source(tmp_path), "licenses")
        seen.append(await _next(events, WAIT))
        seen.append(await _next(events, 0.5))  # still waiting in landing: not announced again
        target.unlink()  # what the ingest DAG's detect does once the file is archived
        Path(f"{target}.ready").unlink()
        await asyncio.sleep(0.2)
        drop_file(settings(), _source(tmp_path, body="ZZBH\nA2\n"), "licenses")
        seen.append(await _next(events, WAIT))
        watching.cancel()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [None, {"dataset": "licenses", "files": ["licenses.csv"]}, None,
                    {"dataset": "licenses", "files": ["licenses.csv"]}]


def test_trigger_poll_interval_from_the_triggerer_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YITU_LANDING_POLL_SECONDS", "0.5")
    assert LandingDropTrigger(dataset="licenses")._interval() == 0.5
    assert LandingDropTrigger(dataset="licenses", poll_seconds=2)._interval() == 2.0


def _contended(s: Settings, key: str) -> list[str]:
    """Two threads take the same lock; the second must wait until the first lets go."""
    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with exclusive(s, key):
            order.append("first in")
            held.set()
            time.sleep(0.5)
            order.append("first out")

    def second() -> None:
        held.wait(10)
        with exclusive(s, key):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return order


def test_lock_serialises_the_same_task_run_twice_on_the_embedded_warehouse(
        yitu_env: Path) -> None:
    assert _contended(settings(), "yitu.ingest.licenses") == ["first in", "first out",
                                                              "second in"]


def test_lock_serialises_the_same_task_run_twice_on_postgis(yitu_env: Path,
                                                             postgis_url: str) -> None:
    s = Settings(home=yitu_env, warehouse_url=postgis_url, pii_key=None)
    assert _contended(s, "yitu.publish") == ["first in", "first out", "second in"]
    with exclusive(s, "yitu.publish"):  # released: taken again at once
        pass


def test_only_an_unreachable_warehouse_is_retried() -> None:
    assert is_transient(sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("down")))
    assert is_transient(psycopg.OperationalError("connection refused"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError("bad geometry"))
    assert not is_transient(UnicodeDecodeError("gbk", b"\xff", 0, 1, "illegal"))
    assert not is_transient(sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("dup")))


def test_reprocess_only_a_drop_that_changed_nothing(home: Path, sample_dir: Path) -> None:
    from pipelines.runner import ingest, reprocess, warehouse
    from pipelines.warehouse.ledger import get_drop

    s = settings()
    drop_file(s, sample_dir / "admin_divisions.gpkg", "admin_divisions")
    bad = _source(home.parent, "licenses.csv", "not,a,licence,file\n1,2,3,4\n")
    drop_file(s, bad, "licenses")
    answered = {d.dataset: d for d in ingest(s)}
    assert answered["admin_divisions"].state == "loaded"
    assert answered["licenses"].state == "rejected"
    with pytest.raises(UsageError, match="loaded"):
        reprocess(s, answered["admin_divisions"].drop_id)
    with pytest.raises(UsageError, match="no drop"):
        reprocess(s, "licenses-nonexistent")
    again = reprocess(s, answered["licenses"].drop_id)
    assert again.state == "rejected"  # the same file gets the same answer, recorded once more
    assert get_drop(warehouse(s), again.drop_id).processed_at >= answered["licenses"].processed_at
    assert os.path.exists(again.raw_path)


def test_a_rejected_file_is_answered_not_failed(yitu_env: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from pipelines.orchestration import tasks

    drop_file(settings(), _source(tmp_path, "licenses.csv", "not,a,licence\n1,2,3\n"), "licenses")
    caplog.set_level("INFO", logger="pipelines.orchestration.tasks")
    [drop_id] = tasks.detect("licenses")
    with pytest.raises(AirflowSkipException, match="no drop loaded"):
        tasks.load("licenses")  # nothing new in core: no asset event, no integration run
    assert f"drop {drop_id} licenses licenses.csv: rejected loaded=0 quarantined=0" in caplog.text


def test_a_drop_that_crashes_fails_without_retry_and_holds_back_later_drops(
        yitu_env: Path, tmp_path: Path, sample_dir: Path, postgis_url: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from pipelines.orchestration import tasks
    from pipelines.runner import warehouse
    from pipelines.warehouse.ledger import get_drop

    # A fault of the installation, not of the file: a PostGIS warehouse refuses to take
    # personal data without its key, and retrying cannot help until someone sets it.
    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    monkeypatch.delenv("YITU_PII_KEY")
    drop_file(settings(), sample_dir / "farmland_pbf.zip", "farmland_pbf")
    [first] = tasks.detect("farmland_pbf")
    drop_file(settings(), _source(tmp_path, "later.csv", "YJJBNTTBBH\nX\n"), "farmland_pbf")
    [second] = tasks.detect("farmland_pbf")
    with pytest.raises(AirflowFailException, match=f"drop {first} farmland_pbf farmland_pbf.zip"):
        tasks.load("farmland_pbf")
    # Both wait: a later delivery must not overtake one that is not answered yet.
    wh = warehouse(settings())
    assert get_drop(wh, first).state == "pending"
    assert get_drop(wh, second).state == "pending"


def test_an_unreachable_warehouse_is_left_to_airflow_to_retry(
        yitu_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines.orchestration import tasks
    from tests.conftest import _free_port

    monkeypatch.setenv("YITU_WAREHOUSE_URL",
                       f"postgresql+psycopg://nobody@127.0.0.1:{_free_port()}/yitu")
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught:
        tasks.detect("licenses")
    assert is_transient(caught.value)
