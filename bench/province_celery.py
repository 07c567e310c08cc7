"""(b) of bench/province.py: the first full load through the real scheduler with two Celery
workers, on PostGIS, as production runs it.

The services are the Celery test's (tests/integration/airflow_services.py): a redis-server,
the api-server, scheduler, dag-processor, triggerer and two `airflow celery worker` processes
(2 task slots each, a scratch folder each), deploy/airflow.env's settings with the test's
quick heartbeats, the metadata database on the same PostgreSQL cluster as the warehouse (a
fresh database of its own). The services are started and idle before the clock starts (a
deployment's services run for months); then the files are dropped into the shared landing
zone with `yitu drop`, the landing triggers start one ingest run per dataset, and once every
drop is answered one `yitu_integrate` run is started (paused until then, as the Celery test
does: one integration for the whole load, as `yitu run` does).

CPU seconds: every service's whole process tree, read from /proc through psutil at the start
and at the end of the window as user + system of each live process plus the children it has
reaped (a task process is reaped by the worker's pool process that supervised it). Processes
orphaned meanwhile (a task's reading forkserver outlives it) are reparented to this process,
made a child subreaper for the window, and reaped here: their CPU is this process's
RUSAGE_CHILDREN delta. Plus redis and the PostgreSQL server (which here also serves Airflow's
metadata database). Per task: its process ("airflow worker -- <ti id>") sampled every 0.2 s,
its CPU and peak RSS as last seen, and yitu's own stage records from its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import resource
import threading
import time
from pathlib import Path

import psutil

from bench.province import Context, Result, drop_files, ledger_stages
from tests.conftest import fresh_database
from tests.digests import table_digests
from tests.integration import airflow_services as svc
from tests.integration.test_faults import RUN_SPECIFIC

DEADLINE = 3600.0
PR_SET_CHILD_SUBREAPER = 36
NO_PRELOAD = {  # Airflow's own Celery settings: the route before the workers preloaded yitu
    "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS":
        "airflow.providers.celery.executors.default_celery.DEFAULT_CELERY_CONFIG"}
# The services' pace as deployed (Airflow's defaults, deploy/airflow.env, the landing
# trigger's default poll), not the Celery test's 1-second heartbeats: those cost CPU in every
# service for as long as the load takes. --test-pace keeps the test's.
PRODUCTION_PACE = {"AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "5",
                   "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "5",
                   "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL":
                       svc.shared_settings()["AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL"],
                   "YITU_LANDING_POLL_SECONDS": "15"}
STAGE_LINE = re.compile(r"(integration[^\"]*?|drop \S+): (\S+) took ([\d.]+) s "
                        r"\(([\d.]+) CPU s\)")


def _tree_cpu(root: psutil.Process) -> float:
    """User + system of a process, of every live descendant, and of the children they reaped."""
    total = 0.0
    with contextlib.suppress(psutil.Error):
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


class Watch:
    """The services' trees at the start and end of the window, the task processes sampled in
    between, orphans reaped."""

    def __init__(self, roots: dict[str, psutil.Process]) -> None:
        self.roots = roots
        self.tasks: dict[str, dict[str, float]] = {}  # ti id -> CPU s and peak RSS seen
        self.start = {k: _tree_cpu(p) for k, p in roots.items()}
        self.orphans = self._reaped()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    @staticmethod
    def _reaped() -> float:
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    def _sample(self) -> None:
        descendants: set[int] = set()
        while not self._stop.wait(0.2):
            for root in self.roots.values():
                with contextlib.suppress(psutil.Error):
                    for p in root.children(recursive=True):
                        descendants.add(p.pid)
                        with contextlib.suppress(psutil.Error, IndexError):
                            title = " ".join(p.cmdline())
                            if not title.startswith("airflow worker -- "):
                                continue
                            t, rss = p.cpu_times(), p.memory_info().rss / 2**20
                            seen = self.tasks.setdefault(title.split()[-1],
                                                         {"cpu_s": 0.0, "peak_rss_mib": 0.0})
                            seen["cpu_s"] = max(seen["cpu_s"], t.user + t.system)
                            seen["peak_rss_mib"] = max(seen["peak_rss_mib"], rss)
            for child in psutil.Process().children():  # orphans handed to us, when done
                with contextlib.suppress(psutil.Error, ChildProcessError):
                    if child.pid in descendants and child.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(child.pid, os.WNOHANG)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        out = {k: _tree_cpu(p) - self.start[k] for k, p in self.roots.items()}
        out["orphans (reaped here)"] = self._reaped() - self.orphans
        return out


def _answered(url: str, files: int) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.execute(text("SELECT to_regclass('audit.drops')")).scalar():
                return False
            return int(conn.execute(text("SELECT count(*) FROM audit.drops WHERE state <> "
                                         "'pending'")).scalar_one()) >= files
    finally:
        engine.dispose()


def _task_stages(folder: Path) -> dict[str, dict[str, float]]:
    """yitu's stage records in every task log of both workers: (dag.task[map]) -> stage -> CPU."""
    out: dict[str, dict[str, float]] = {}
    for log in folder.glob("worker*/logs/dag_id=*/**/*.log"):
        parts = dict(p.split("=", 1) for p in log.relative_to(folder).parts if "=" in p)
        key = f"{parts['dag_id']}.{parts['task_id']}" + (
            f"[{parts['map_index']}]" if parts.get("map_index", "-1") != "-1" else "")
        for m in STAGE_LINE.finditer(log.read_text("utf-8", errors="replace")):
            out.setdefault(key, {})[m.group(2)] = out.get(key, {}).get(m.group(2), 0.0) + float(
                m.group(4))
    return out


def through_scheduler(ctx: Context, preload: bool = True, test_pace: bool = False) -> Result:
    """Drop every file of the sample into a scheduler + two Celery workers deployment, wait
    until it has published; what it cost, and whether its layers equal (a)'s."""
    folder = ctx.home.parent / ("scheduler" + ("" if preload else "-no-preload")
                                + ("-test-pace" if test_pace else ""))
    folder.mkdir(parents=True)
    files = [(f["dataset"], ctx.files / f["file"]) for f in ctx.manifest["files"]]
    server_url = ctx.url.rsplit("/", 1)[0] + "/postgres"
    libc = ctypes.CDLL(None, use_errno=True)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(server_url))
        broker = stack.enter_context(svc.redis_broker(folder))
        keep = {k: ctx.env()[k] for k in ("YITU_PII_KEY", "YITU_AS_OF")}  # as (a)'s
        settings = {**svc.celery_settings(broker), **keep, **({} if preload else NO_PRELOAD),
                    **({} if test_pace else PRODUCTION_PACE)}
        af: svc.Airflow = stack.enter_context(
            svc.airflow_services(server_url, url, folder, None, settings))
        svc.start_celery_workers(af, folder)
        af.login()
        af.dags_parsed([*svc.INGEST, "yitu_integrate"])
        af.call("PATCH", "/api/v2/dags/yitu_integrate", {"is_paused": True})
        af.wait("both workers", lambda: svc.workers_ready(af), 300)
        time.sleep(5)  # the services' start-up settles (first DAG parses, worker pools)
        names = ["api-server", "scheduler", "dag-processor", "triggerer", "worker1", "worker2"]
        roots = {n: psutil.Process(p.pid) for n, p in zip(names, af.procs, strict=True)}
        roots["redis"] = next(c for c in psutil.Process().children()
                              if c.name().startswith("redis"))
        here = Context(ctx.fraction, ctx.files, Path(af.env["YITU_HOME"]), url, ctx.cluster,
                       ctx.manifest)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        stack.callback(libc.prctl, PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        server, started = ctx.server_cpu(), time.perf_counter()
        watch = Watch(roots)
        drop = drop_files(here, files)
        af.wait("the drops to be answered", lambda: _answered(url, len(files))
                and svc.all_finished(af, svc.INGEST), DEADLINE)
        ingested = time.perf_counter()
        run_id, run = af.integrate_once(DEADLINE, unobserved=True)
        seconds = time.perf_counter() - started
        services = watch.stop()
        time.sleep(0.3)
        server = ctx.server_cpu() - server
        if run["state"] != "success":
            raise RuntimeError(f"yitu_integrate {run_id}: {run['state']}\n{af.tails()}")
        tis = {t["id"]: t for d in [*svc.INGEST, "yitu_integrate"] for r in af.runs(d)
               for t in af.task_instances(d, r["dag_run_id"])}
        tasks = {}
        for ti_id, seen in watch.tasks.items():
            t = tis.get(ti_id)
            name = (f"{t['dag_id']}.{t['task_id']}" + (f"[{t['map_index']}]"
                                                      if t["map_index"] >= 0 else "")
                    if t else ti_id)
            tasks[name] = {**seen, "hostname": t["hostname"] if t else ""}
        answers = ledger_stages(here)
        digests = table_digests(url, ("publish",), RUN_SPECIFIC)
        reference = table_digests(ctx.url, ("publish",), RUN_SPECIFIC)
        counties = sum(1 for t in tis.values() if t["task_id"] == "integrate_county")
        stages = _task_stages(folder)
    client = drop["cpu_s"] + sum(services.values())
    return {"seconds": seconds, "cpu_s": client + server, "client_cpu_s": client,
            "server_cpu_s": server, "ingest_seconds": ingested - started,
            "peak_rss_mib": max([drop["peak_rss_mib"], *(t["peak_rss_mib"]
                                                         for t in tasks.values())]),
            "tree_rss_mib": 0.0, "drop": drop, "services_cpu_s": services, "tasks": tasks,
            "task_stages": stages, "counties": counties, "preload": preload,
            "pace": "the Celery test's (1 s heartbeats)" if test_pace else "production's",
            "equal_to_cli": digests == reference, "digests": digests, **answers}


def _task_kind(name: str) -> str:
    return re.sub(r"\[.*\]$", "[*]", name)


def report_lines(results: list[Result]) -> list[str]:
    """The section of province.md on (b): against (a), where its CPU went, per task."""
    out: list[str] = []
    for r in results:
        for key in ("scheduler", "scheduler-no-preload", "scheduler-test-pace"):
            m = r.get(key)
            if not m:
                continue
            cli = r.get("cli")
            size = f"{r['fraction']:g}x"
            out += ["", f"## (b) through the scheduler, two Celery workers, {size}"
                    + ("" if m["preload"] else ", without the workers' preload")
                    + (", the Celery test's pace" if key.endswith("test-pace") else ""), ""]
            if cli:
                out.append(f"Against (a) on the same drops: **{m['cpu_s'] / cli['cpu_s']:.2f}x** "
                           f"the CPU seconds ({m['cpu_s']:,.1f} against {cli['cpu_s']:,.1f}; "
                           f"without the PostgreSQL server: {m['client_cpu_s']:,.1f} against "
                           f"{cli['client_cpu_s']:,.1f}, "
                           f"{m['client_cpu_s'] / cli['client_cpu_s']:.2f}x), "
                           f"{m['seconds'] / cli['seconds']:.2f}x the wall seconds; target "
                           "<= 1.25x. Published layers equal to (a)'s, table by table: "
                           f"**{m['equal_to_cli']}**.")
            out += ["", f"Services at {m.get('pace', 'the Celery test')} pace. "
                    f"Wall {m['seconds']:,.1f} s (ingest {m['ingest_seconds']:,.1f} s, then "
                    f"one `yitu_integrate` run of {m['counties']} county tasks). CPU s by "
                    "process tree during the window:", "",
                    "| process tree | CPU s |", "|---|---:|",
                    f"| `yitu drop` of every file | {m['drop']['cpu_s']:,.1f} |"]
            out += [f"| {k} | {v:,.1f} |" for k, v in m["services_cpu_s"].items()]
            out += [f"| PostgreSQL server (warehouse and Airflow's metadata) | "
                    f"{m['server_cpu_s']:,.1f} |", f"| **total** | **{m['cpu_s']:,.1f}** |"]
            kinds: dict[str, list[tuple[float, float, float]]] = {}
            for name, t in m["tasks"].items():
                staged = sum(m["task_stages"].get(name, {}).values())
                kinds.setdefault(_task_kind(name), []).append(
                    (t["cpu_s"], staged, t["peak_rss_mib"]))
            out += ["", "Per task: its process (`airflow worker -- <ti>`, sampled every 0.2 s) "
                    "and yitu's stage records in its log (read, validate, load, integrate...). A "
                    "load task's files are parsed in children of its reading forkserver: their "
                    "CPU is in its stages, not in its process (the forkserver's start-up is "
                    "among the orphans above). Where the process's CPU exceeds its stages, the "
                    "rest is the task's fixed cost (Airflow's task runner, DAG parse, imports); "
                    "plan, publish and report record no stages of their own.",
                    "", "| task | runs | task process CPU s (mean) | stages CPU s (mean) | "
                    "fixed CPU s (mean) | task process peak RSS MiB (max) |",
                    "|---|---:|---:|---:|---:|---:|"]
            for kind, rows in sorted(kinds.items()):
                n = len(rows)
                cpu, staged = sum(x[0] for x in rows) / n, sum(x[1] for x in rows) / n
                fixed = f"{cpu - staged:.2f}" if cpu >= staged > 0 else "-"
                out.append(f"| {kind} | {n} | {cpu:.2f} | {staged:.2f} | {fixed} | "
                           f"{max(x[2] for x in rows):,.0f} |")
    return out
