"""The integration runs' ledger (audit.integration_runs / integration_stages) on both
warehouses: every `yitu run` records its run and what each stage cost, `yitu status --runs`
shows them, `yitu status --json` stays the drops' array, concurrent tasks write their own rows,
a retried task replaces its row, and a warehouse set up before the ledger existed gains it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from pipelines.config import settings
from pipelines.landing.drops import drop_file

STAGE_FIELDS = ("seconds", "cpu_seconds", "peak_rss_mib")


def _status(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    from pipelines.cli import main

    capsys.readouterr()
    assert main(["status", *args]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if "--json" in args else out


def _drop_ledger_tables(wh: Any) -> None:
    """The warehouse as the setup before the runs' ledger left it: no such tables."""
    with wh.engine.begin() as conn:
        for t in (wh.tables.integration_stages, wh.tables.integration_runs):
            conn.execute(text(f"DROP TABLE {t.fullname}"))
            if wh.engine.dialect.name == "sqlite":
                conn.execute(text("DELETE FROM gpkg_contents WHERE table_name = :t"),
                             {"t": t.name})


def test_every_cli_run_is_recorded_with_its_stages(home: Path, sample_dir: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines import runner

    s = settings()
    drop_file(s, sample_dir / "admin_divisions.gpkg", "admin_divisions")
    drop_file(s, sample_dir / "farmland_hsf.gpkg", "farmland_hsf")
    runner.ingest(s)
    # The warehouse as a setup before the runs' ledger left it: `yitu run` (which sets up
    # nothing on a warehouse set up for these contracts) adds the tables, losing nothing.
    wh = runner.warehouse(s)
    _drop_ledger_tables(wh)
    assert wh.meta("setup") == runner.setup_digest()
    assert _status(capsys, "--runs", "--json") == []  # read before the tables exist
    first = runner.run_all(s)
    assert first.published
    [run] = _status(capsys, "--runs", "--json")
    assert run["route"] == "cli" and run["dag_run_id"] is None
    assert run["state"] == "published" and run["error"] is None
    assert run["as_of"] == "2026-11-16T12:00:00"  # YITU_AS_OF, as the run judged deadlines
    assert run["rows_published"] == sum(first.published.values())
    assert run["partitions_built"] == len(run["built"]) > 0
    assert run["partitions_taken"] == 0  # nothing published before
    assert run["full_rebuild"] is False or run["full_rebuild"] == 0
    assert run["started_at"] <= run["finished_at"]
    whole = [st for st in run["stages"] if st["county"] == ""]
    assert [st["stage"] for st in whole] == ["plan", "integrate", "publish"]
    by_stage = {st["stage"]: st for st in whole}
    assert by_stage["publish"]["rows"] == sum(first.published.values())
    assert by_stage["integrate"]["rows"] > 0 and by_stage["plan"]["rows"] > 0
    # each county's build too, as an Airflow county task records it, summing to the whole
    counties = [st for st in run["stages"] if st["county"]]
    assert {st["stage"] for st in counties} == {"integrate"}
    assert len(counties) == run["counties"] == len({st["county"] for st in counties})
    assert sum(st["rows"] for st in counties) == by_stage["integrate"]["rows"]
    for st in run["stages"]:
        assert all(st[k] >= 0 for k in STAGE_FIELDS), st
        assert st["peak_rss_mib"] > 50  # a Python process with the geo stack loaded
        assert st["task"] == "yitu run" and st["host"] and st["pid"] > 0
        assert st["error"] is None

    second = runner.run_all(s, full=True)  # a second run: a second row
    runs = _status(capsys, "--runs", "--json")
    assert [r["run_id"] for r in runs][:1] == [run["run_id"]] and len(runs) == 2
    assert runs[1]["state"] == "published" and runs[1]["full_rebuild"] in (True, 1)
    assert runs[1]["rows_published"] == sum(second.published.values())
    assert runs[1]["partitions_built"] == run["partitions_built"]
    assert [r["run_id"] for r in _status(capsys, "--runs", "--last", "1", "--json")] == \
        [runs[1]["run_id"]]

    # `yitu status --json` is still the drops' array; the plain listing ends with the last run.
    drops = _status(capsys, "--json")
    assert [d["dataset"] for d in drops] == ["admin_divisions", "farmland_hsf"]
    listing = _status(capsys)
    tail = listing[listing.index("last integration run"):]
    assert f"integration run {runs[1]['run_id']} (cli): published" in tail
    assert "plan" in tail and "publish" in tail and "CPU s" in tail
    assert run["run_id"] not in tail


def _entry(seconds: float = 0.5, rows: int | None = 7) -> dict[str, Any]:
    return {"seconds": seconds, "cpu_seconds": seconds / 2, "rows": rows, "peak_rss_mb": 100.0}


def _run_row(wh: Any, run_id: str) -> dict[str, Any]:
    from pipelines.runner import runlog

    return next(r for r in runlog.list_runs(wh, 100) if r["run_id"] == run_id)


def test_tasks_write_their_own_rows_and_a_retry_replaces_its_row(home: Path) -> None:
    from pipelines import runner
    from pipelines.runner import runlog

    wh = runner.warehouse(settings())
    run_id, counties = "manual__2026-11-16T02_00_00", [f"4601{i:02d}" for i in range(8)]
    with runlog.task("airflow", "plan", dag_run_id="manual__2026-11-16T02:00:00+00:00",
                     try_number=1) as plan:
        runlog.recorder(wh, run_id)("plan", _entry(rows=None), None)
    assert [r["stage"] for r in plan.recorded] == ["plan"]
    with wh.engine.begin() as conn:  # as `describe` leaves it: eight county tasks planned
        t = wh.tables.integration_runs
        conn.execute(t.update().where(t.c.run_id == run_id).values(counties=len(counties)))
    assert runlog.run_of(wh, "manual__2026-11-16T02:00:00+00:00") == run_id

    def county_task(county: str, error: BaseException | None = None, try_number: int = 1
                    ) -> None:
        with runlog.task("airflow", "integrate_county", try_number=try_number):
            runlog.recorder(wh, run_id, county)("integrate", _entry(), error)

    # Seven county tasks at once, the eighth fails: seven rows, the run failed, and why.
    threads = [threading.Thread(target=county_task, args=(c,)) for c in counties[:7]]
    threads.append(threading.Thread(target=county_task,
                                    args=(counties[7], ValueError("no geometry"))))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    run = _run_row(wh, run_id)
    assert sorted(st["county"] for st in run["stages"] if st["stage"] == "integrate") == counties
    assert run["state"] == "failed" and run["finished_at"]
    assert run["error"] == f"integrate {counties[7]}: ValueError: no geometry"
    assert run["route"] == "airflow" and run["dag_run_id"] == "manual__2026-11-16T02:00:00+00:00"

    county_task(counties[7], try_number=2)  # cleared in Airflow: the retry replaces its row
    run = _run_row(wh, run_id)
    mine = [st for st in run["stages"] if st["county"] == counties[7]]
    assert len(mine) == 1 and mine[0]["try_number"] == 2 and mine[0]["error"] is None
    assert run["state"] == "built" and run["error"] is None and run["finished_at"] is None

    with runlog.task("airflow", "publish"):
        runlog.recorder(wh, run_id)("publish", _entry(rows=1234), None)
    run = _run_row(wh, run_id)
    assert run["state"] == "published" and run["rows_published"] == 1234
    assert [st["stage"] for st in run["stages"]][-1] == "publish"
    assert len(run["stages"]) == 1 + len(counties) + 1


def test_stages_hand_every_stage_to_the_ledger_even_a_failed_one(home: Path) -> None:
    from pipelines import runner
    from pipelines.runner import runlog

    wh = runner.warehouse(settings())
    cost = runlog.stages(wh, "cli-20261116T020000000000")
    with cost.stage("plan") as planned:
        planned["rows"] = 3
    with pytest.raises(OSError), cost.stage("integrate"):
        raise OSError("disk full")
    run = _run_row(wh, "cli-20261116T020000000000")
    assert run["state"] == "failed" and run["error"] == "integrate: OSError: disk full"
    assert [(st["stage"], st["rows"]) for st in run["stages"]] == [("plan", 3),
                                                                   ("integrate", None)]
    assert "FAILED: OSError: disk full" in "\n".join(runlog.run_lines(run))


def test_a_warehouse_gone_mid_run_costs_one_line_not_a_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    """A stage ending while the warehouse is down (the database stopped mid-run) is not
    recorded, said in one warning line: the run's own answer ("运行环境故障", exit 3) must not
    be buried under a traceback from the ledger."""
    import logging
    import socket

    from pipelines.runner import runlog
    from pipelines.warehouse import open_warehouse

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wh = open_warehouse(f"postgresql+psycopg://postgres@127.0.0.1:{port}/gone")
    with (caplog.at_level(logging.DEBUG, logger="pipelines.runner.runlog"),
          runlog.stages(wh, "cli-gone").stage("integrate") as built):
        built["rows"] = 1
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and "not recorded in the ledger" in warned[0].getMessage()
    assert "OperationalError" in warned[0].getMessage() and warned[0].exc_info is None
    assert any(r.exc_info for r in caplog.records if r.levelno == logging.DEBUG)
    wh.engine.dispose()
