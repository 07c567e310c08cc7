"""The one runner: what `yitu` and the Airflow tasks both call. It holds the order drops are
answered in, the locks that keep two runs from doing the same work, the reprocess rules and
each integration run's state; the stages it calls know nothing of who called them.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

from pipelines.alerts import send_alerts
from pipelines.config import Settings, UsageError
from pipelines.contracts import DATASETS, contracts_digest, county_layer, load_contract
from pipelines.landing.drops import detect_drops
from pipelines.load import changes_later, changes_recorded_later, complete_loaded
from pipelines.read.isolate import beside_next_parse, prestart
from pipelines.report import ReportPaths, write_report
from pipelines.report.profile import delivery_profile, profiles_dir
from pipelines.runner.drops import answer_drop, answer_order, pending, record_failure
from pipelines.runner.faults import environment_fault
from pipelines.runner.inputs_cache import Prefetch
from pipelines.runner.integration import (
    PUBLISHED_FROM,
    IntegrationRun,
    as_of,
    core_version,
    integrate_and_publish,
    integrate_partition,
    plan_run,
    publish_is_stale,
    publish_run,
    store,
)
from pipelines.runner.locks import exclusive
from pipelines.runner.parallel import Aside, forked_map
from pipelines.warehouse import Warehouse, ledger, open_warehouse
from pipelines.warehouse.ledger import DropRecord

__all__ = ["IntegrationRun", "RunSummary", "answer_pending", "as_of", "core_version", "detect",
           "ingest", "init", "integrate_partition", "plan_run", "publish_is_stale", "publish_run",
           "report", "reprocess", "run_all", "status", "warehouse"]
log = logging.getLogger(__name__)
SETUP_FORMAT = "8"  # bump when the setup itself (not a contract) changes what it creates
OnFailure = Callable[[DropRecord, Exception], None]
Answering = Callable[[set[str]], None]  # told the datasets with drops to answer (`started`)


def setup_digest() -> str:
    """What a warehouse is set up for: the contracts of this deployment and the setup format."""
    return hashlib.sha256(f"{SETUP_FORMAT}:{contracts_digest()}".encode()).hexdigest()[:16]


def init(settings: Settings) -> Warehouse:
    """Create or upgrade the warehouse (schemas, tables, indexes, roles): `yitu init`."""
    wh = open_warehouse(settings.warehouse_url)
    wh.ensure_ready()
    wh.set_meta("setup", setup_digest())
    return wh


def warehouse(settings: Settings) -> Warehouse:
    """The warehouse, set up first only when it is new or its contracts changed: one query,
    not the setup DDL, for every task and command."""
    wh = open_warehouse(settings.warehouse_url)
    if wh.meta("setup") != setup_digest():
        log.info("warehouse not set up for these contracts yet: setting it up")
        return init(settings)
    return wh


def ingest_lock(dataset: str) -> str:
    return f"yitu.ingest.{dataset}"


def detect(settings: Settings, wh: Warehouse, datasets: list[str]) -> list[DropRecord]:
    """Archive the ready files of these datasets' landing folders into raw/ and the ledger."""
    found: list[DropRecord] = []
    for ds in datasets:
        with exclusive(settings, ingest_lock(ds)):
            found += detect_drops(settings, wh, ds)
    return found


def answer_pending(settings: Settings, wh: Warehouse, datasets: list[str],
                   on_failure: OnFailure | None = None, jobs: int = 1,
                   started: Answering | None = None) -> list[DropRecord]:
    """Answer the pending drops of `datasets`: the counties' first when the others are placed
    on them (their files still in landing are taken too), then the rest in the order
    received. A drop is answered under its dataset's lock, so two runs answer it once.
    `on_failure` hears of a drop that crashed before the exception goes on. With `jobs` > 1
    the datasets are answered side by side in forked workers (`pipelines.runner.parallel`),
    each dataset's drops still in the order received. `started` hears which datasets have
    drops to answer once this process forks no more workers for them (see `forked_map`)."""
    order = answer_order(datasets)
    if jobs <= 1:
        prestart()  # the reader's child process starts while the ledger is read
    detect(settings, wh, [d for d in order if d not in datasets])
    base = county_layer()
    todo = sorted((rec for ds in order for rec in pending(wh, ds)),
                  key=lambda r: (base is None or r.dataset != base.dataset, r.received_at,
                                 r.drop_id))
    answering = {r.dataset for r in todo}
    told = partial(started, answering) if started is not None else None
    if jobs > 1 and on_failure is None and todo:
        return _answer_side_by_side(settings, todo, base.dataset if base else None, jobs, told)
    if told is not None:
        told()
    return [_answer(settings, wh, rec, on_failure) for rec in todo]


def _answer_side_by_side(settings: Settings, todo: list[DropRecord], base: str | None,
                         jobs: int, started: Callable[[], None] | None) -> list[DropRecord]:
    """The counties' drops (in one worker: the others are placed on them), then the other
    datasets, one per worker at a time, the largest delivery first so that the last to finish
    is a small one."""
    by_dataset: dict[str, list[DropRecord]] = {}
    for rec in todo:
        by_dataset.setdefault(rec.dataset, []).append(rec)
    first = [by_dataset.pop(base)] if base in by_dataset else []
    rest = sorted(by_dataset.values(), key=lambda recs: -sum(r.size_bytes for r in recs))
    from pipelines.validate import run as validation

    # Great Expectations made once, here, for every worker; for one worker only (a day's
    # work orders, one county's parcels) made in that worker while its first file is read
    # (seconds of a run's wall time, the same CPU)
    alone = len(first) + len(rest) == 1
    if not alone:
        validation.warm_up()
    answered: dict[str, DropRecord] = {}
    batches = [b for b in (first, rest) if b]
    for i, batch in enumerate(batches):  # the first, too, in a worker: no reader starts here
        work = [(settings, [r.drop_id for r in recs], alone) for recs in batch]
        last = i == len(batches) - 1
        for records in forked_map(_answer_in_worker, work, jobs, started if last else None):
            answered.update((r.drop_id, r) for r in records)
    return [answered[r.drop_id] for r in todo]


def _answer_in_worker(work: tuple[Settings, list[str], bool]) -> list[DropRecord]:
    """One dataset's drops, in order, in a forked worker with a warehouse connection of its
    own (the parent's is never used across the fork); Great Expectations made while the
    first file is parsed by the reader's child (`warm`), where the parent did not make it,
    and the parent told when it is (`_first_parse`). The worker forks nothing: its reader's
    children come from the forkserver."""
    settings, drop_ids, warm = work
    prestart()  # the reader's forkserver imports while the first file is unpacked
    if warm:
        beside_next_parse(_warm_up_and_tell)
    else:  # made by the parent already: nothing to wait for
        _tell_parsed()
    wh = open_warehouse(settings.warehouse_url)
    try:
        return [_answer(settings, wh, ledger.get_drop(wh, d), None) for d in drop_ids]
    finally:
        _tell_parsed()  # (no file parsed: the parent waits no longer)
        wh.engine.dispose()


# The event a run's worker sets once its first file is parsed and Great Expectations made
# beside it (`_answer_in_worker`), and the parent's reads ahead of the plan wait for
# (`inputs_cache.Prefetch`'s `after`). Made in the parent before it forks the worker,
# which inherits it (an event cannot be sent to a worker, only inherited).
_FIRST_PARSE: list[EventType] = []


def _first_parse() -> EventType:
    """A new event for this run's first parse (`_FIRST_PARSE`). A county's parcels sent
    again: the reads ahead (the licences and the work orders, 3 client and 3 server CPU s at
    1x) took the cores from the parse and the import of Great Expectations beside it (4.8 s
    of it under py-spy); after them, they overlap the validation and the load, which wait
    for the warehouse more."""
    _FIRST_PARSE[:] = [multiprocessing.get_context("fork").Event()]
    return _FIRST_PARSE[0]


def _warm_up_and_tell() -> None:
    from pipelines.validate import run as validation

    try:
        validation.warm_up()
    finally:
        _tell_parsed()


def _tell_parsed() -> None:
    for event in _FIRST_PARSE:
        event.set()


def _answer(settings: Settings, wh: Warehouse, rec: DropRecord,
            on_failure: OnFailure | None) -> DropRecord:
    """One drop under its dataset's lock. A fault of the environment goes on up with the drop
    left pending; any other failure is the drop's answer (`failed`) and the run goes on."""
    with exclusive(settings, ingest_lock(rec.dataset)):
        try:
            return answer_drop(settings, wh, rec.drop_id)
        except Exception as exc:
            if environment_fault(exc):
                if on_failure is not None:
                    on_failure(rec, exc)
                raise
            return record_failure(settings, wh, ledger.get_drop(wh, rec.drop_id), exc)


def ingest(settings: Settings, dataset: str | None = None,
           wh: Warehouse | None = None, jobs: int = 1,
           started: Answering | None = None) -> list[DropRecord]:
    wh = wh or warehouse(settings)
    datasets = [dataset] if dataset else list(DATASETS)
    detect(settings, wh, datasets)
    if settings.embedded and jobs > 1:
        # one GeoPackage file takes one writer at a time: loads side by side would only wait
        # for each other's locks (or time out on them)
        log.info("the embedded warehouse answers drops one at a time (--jobs %d ignored)", jobs)
        jobs = 1
    answered = answer_pending(settings, wh, datasets, jobs=jobs, started=started)
    if not changes_later():  # (else the caller completes them: `run_all`)
        complete_loaded(wh)
    return answered


def reprocess(settings: Settings, drop_id: str, wh: Warehouse | None = None) -> DropRecord:
    """Answer a drop already in raw/ again, e.g. after a reader fix or a contract change.

    Only a drop that changed nothing in core qualifies (rejected, or still pending), and only
    while no later drop of its dataset has loaded: loading it would replace newer data.
    A loaded drop is corrected by sending a corrected file."""
    wh = wh or warehouse(settings)
    try:
        rec = ledger.get_drop(wh, drop_id)
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from exc
    if rec.state not in ("pending", "rejected", "failed"):
        raise UsageError(f"drop {drop_id} is {rec.state}: only a rejected, failed or pending "
                         "drop is processed again; send a corrected file instead")
    newer = [d.drop_id for d in ledger.list_drops(wh, state="loaded", dataset=rec.dataset)
             if d.received_at > rec.received_at]
    if newer:
        raise UsageError(f"drop {drop_id} is older than loaded drop(s) {', '.join(newer)}: "
                         "loading it now would replace newer data")
    with exclusive(settings, ingest_lock(rec.dataset)):
        if rec.state != "pending":
            ledger.reopen(wh, rec)  # pending again, no outcome
        log.info("drop %s %s %s: processed again (was %s)", drop_id, rec.dataset, rec.file,
                 rec.state)
        return answer_drop(settings, wh, drop_id)


@dataclass
class RunSummary:
    drops: list[DropRecord] = field(default_factory=list)
    published: dict[str, int] = field(default_factory=dict)
    report: ReportPaths | None = None


def report(settings: Settings, out_dir: Path | None = None,
           wh: Warehouse | None = None) -> ReportPaths:
    """The quality report, then the alerts it gives rise to (sent once each; a channel that is
    down delays them and never fails the run): the CLI and the DAGs' report task alike."""
    wh = wh or warehouse(settings)
    with exclusive(settings, "yitu.report"):
        try:
            return write_report(wh, out_dir or settings.reports)
        finally:  # a report that failed still lets the alerts out
            send_alerts(settings, wh)


def run_all(settings: Settings, dataset: str | None = None, retry: str | None = None,
            full: bool = False, jobs: int = 1) -> RunSummary:
    """Answer what is pending (and `retry` first), then publish when the published layers are
    older than the core data, whatever this run loaded: a run that died between its load and
    its publish is completed by the next one. `full` rebuilds and publishes every layer even
    when they are current (after a change to the integration itself). `jobs` > 1 answers the
    datasets and builds the counties side by side in that many forked workers."""
    wh = warehouse(settings)  # opened (and set up if new) once for the whole run
    summary = RunSummary(drops=[reprocess(settings, retry, wh)] if retry else [])
    if settings.embedded:  # one writer at a time on the GeoPackage: each in its turn
        summary.drops += ingest(settings, dataset, wh, jobs=jobs)
        _publish_if_stale(settings, wh, summary, full, jobs)
    else:
        _ingest_and_publish_beside(settings, wh, summary, dataset, full, jobs)
    summary.report = report(settings, wh=wh)
    return summary


def _ingest_and_publish_beside(settings: Settings, wh: Warehouse, summary: RunSummary,
                               dataset: str | None, full: bool, jobs: int) -> None:
    """`run_all`'s ingest and publish on PostGIS, with two things beside them. The
    integration's whole reads of datasets no drop of this run changes start while the drops
    are answered (`inputs_cache.Prefetch`: at 1x a county's parcels sent again, the plan
    waited 6 s for the licences and work orders). What the loads changed is recorded beside
    the integration (`changes_recorded_later`), in a process forked before those reads'
    threads start and told to go once the drops are answered; the report reads it."""
    wh.engine.dispose()  # no connection of this process in the aside (see `Aside`)
    changes = Aside(_complete_loaded, settings)
    ahead: list[Prefetch] = []
    parsed = _first_parse()

    def reads_ahead(answering: set[str]) -> None:
        if answering:  # nothing to answer: maybe nothing to publish either
            # (answered here, in this process, with one job: nobody to wait for)
            ahead.append(Prefetch(wh, store(settings, wh), answering, full,
                                  after=parsed if jobs > 1 else None))

    try:
        with changes_recorded_later():
            summary.drops += ingest(settings, dataset, wh, jobs=jobs, started=reads_ahead)
        changes.go()
        # (the county assessment reads what they changed: it waits for them, `_assessed`)
        _publish_if_stale(settings, wh, summary, full, jobs, ahead[0] if ahead else None,
                          changes.join)
    finally:
        parsed.set()  # (a run failing before its worker said so: the reads wait no longer)
        _FIRST_PARSE.clear()
        for reads in ahead:
            reads.close()
        if changes.join():  # the next run records them (`complete_loaded`)
            log.warning("what this run's drops changed was not recorded")
    summary.drops = [ledger.get_drop(wh, r.drop_id) for r in summary.drops]  # (with them)


def _publish_if_stale(settings: Settings, wh: Warehouse, summary: RunSummary, full: bool,
                      jobs: int, ahead: Prefetch | None = None,
                      recorded: Callable[[], object] | None = None) -> None:
    with exclusive(settings, "yitu.publish"):
        version = core_version(wh)
        if full or publish_is_stale(wh, version):
            summary.published = integrate_and_publish(settings, wh, as_of(), full=full,
                                                      jobs=jobs, ahead=ahead,
                                                      recorded=recorded)
            if summary.published:
                wh.set_meta(PUBLISHED_FROM, version)


def _complete_loaded(settings: Settings) -> None:
    """`complete_loaded`, in a process of its own (`run_all`): its own connection. The
    report's profile of each delivery completed (its rows read again: 1.2 s of a county's
    parcels at 1x, at the end of the run) is made here too, beside the plan, and kept where
    the report finds it."""
    wh = open_warehouse(settings.warehouse_url)
    try:
        for rec in complete_loaded(wh):
            try:
                delivery_profile(wh, load_contract(rec.dataset), rec,
                                 profiles_dir(settings.reports))
            except Exception:  # only ahead of the report, which profiles it otherwise
                log.exception("drop %s: its profile is left to the report", rec.drop_id)
    finally:
        wh.engine.dispose()


def status(settings: Settings) -> list[DropRecord]:
    return ledger.list_drops(warehouse(settings))
