"""`yitu`: the command line of DESIGN.md."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.config import PiiKeyMissing, UsageError, settings
from pipelines.contracts import DATASETS
from pipelines.stack import roomy

if TYPE_CHECKING:
    from pipelines.config import Settings
    from pipelines.warehouse.ledger import DropRecord

# `yitu sample --province F`; the sample package is imported only when it runs
PROVINCE_HELP = ("size each dataset as a fraction F of a province instead (1 = 1,000,000 PBF "
                 "parcels, 300,000 HSF polygons, 1,000,000 licences, 1,000,000 work orders; "
                 "larger deliveries are split into several files)")
STATUS_REASONS = 3  # whole-file reasons shown per rejected drop; the report has them all
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def printable(name: str) -> str:
    """A department's file name on one line: a newline in it cannot forge output lines."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", name)


def _sample(args: argparse.Namespace) -> int:
    from pipelines.sample import write_samples

    manifest = write_samples(Path(args.dir), seed=args.seed, scale=args.scale,
                             province=args.province)
    for f in manifest["files"]:
        print(f"{f['dataset']:16} {args.dir}/{f['file']}  rows={f['rows']} "
              f"bad={sum(f['bad_rows'].values())}")
    return 0


def _drop(args: argparse.Namespace) -> int:
    from pipelines.landing.drops import drop_file

    target = drop_file(settings(), Path(args.file), args.dataset)
    print(f"dropped {args.file} -> {target}")
    return 0


def _jobs(value: str) -> int:
    if value == "auto":
        return os.cpu_count() or 1
    try:
        jobs = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {value!r}") from None
    if jobs < 1:
        raise argparse.ArgumentTypeError("at least 1 process")
    return jobs


def _run(args: argparse.Namespace) -> int:
    from pipelines.load.changes import shrink_warnings
    from pipelines.reasons import Reason, file_reasons
    from pipelines.runner import run_all

    s = settings()
    from pipelines.runner.parallel import default_jobs

    summary = run_all(s, args.dataset, args.retry, args.full, jobs=args.jobs or default_jobs())
    for d in summary.drops:
        print(f"{d.state:9} {d.dataset:16} {printable(d.file)}: read {d.rows_read or 0}, "
              f"loaded {d.rows_loaded or 0}, quarantined {d.rows_quarantined or 0}, "
              f"flagged {d.rows_flagged or 0}")
        if d.state in ("rejected", "failed"):
            why = (file_reasons(d.errors) or [Reason.from_dict(e) for e in d.errors[:1]])
            print(f"          reason: {why[0].status_line() if why else '?'}")
        if d.state == "failed":
            print(f"          retry: yitu run --retry {d.drop_id}")
        for warning in shrink_warnings(d.notes):
            print(f"          {warning}")
    if not summary.drops:
        print("no pending drops")
    if summary.published:
        print("published: " + ", ".join(f"{k}={v}" for k, v in summary.published.items()))
    if summary.report:
        print(f"quality report: {summary.report.index}")
    print(f"rejection reports: {s.quarantine}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from pipelines.load.changes import change_line, shrink_warnings
    from pipelines.runner import status

    s = settings()
    if args.runs:
        return _runs(s, args.last, args.json)
    drops = status(s)
    if args.json:
        json.dump([d.as_status() for d in drops], sys.stdout, ensure_ascii=False, indent=2,
                  default=str)
        print()
        return 0
    for d in drops:
        print(f"{d.drop_id}  {d.state:9} {printable(d.file)}  read={d.rows_read} "
              f"loaded={d.rows_loaded} "
              f"quarantined={d.rows_quarantined} flagged={d.rows_flagged}")
        changes = change_line(d.notes) if d.state == "loaded" else None
        for line in ([changes] if changes else []) + shrink_warnings(d.notes) + _answer(s, d):
            print(f"    {line}")
    return _runs(s, 1, False, heading="\nlast integration run (yitu status --runs: more):")


def _how_many(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"not a number of runs: {value!r}")
    return int(value)


def _runs(s: Settings, last: int, as_json: bool, heading: str = "") -> int:
    """The last integration runs with what each of their stages cost (audit.integration_runs
    and audit.integration_stages)."""
    from pipelines.runner import runlog, warehouse

    runs = runlog.list_runs(warehouse(s), last)
    if as_json:
        json.dump(runs, sys.stdout, ensure_ascii=False, indent=2, default=str)
        print()
        return 0
    if runs and heading:
        print(heading)
    for run in runs:
        print("\n".join(runlog.run_lines(run)))
    if not runs and not heading:
        print("no integration run yet")
    return 0


def _answer(s: Settings, d: DropRecord) -> list[str]:
    """What the department is told: why a file was refused, which rules its rows failed,
    and where the full list is."""
    from pipelines.load.answer import answer_folder
    from pipelines.reasons import Reason, file_reasons

    lines: list[str] = []
    if d.state in ("rejected", "failed"):
        whole = file_reasons(d.errors) or [Reason.from_dict(e) for e in d.errors[:1]]
        lines += [r.status_line() for r in whole[:STATUS_REASONS]]
    by_rule = d.notes.get("rows_by_rule") or {}
    for severity in ("fail", "warn"):
        rules = by_rule.get(severity) or {}
        if rules:
            counts = ", ".join(f"{rule}={n}" for rule, n in sorted(rules.items()))
            lines.append(f"{'quarantined' if severity == 'fail' else 'flagged'} by rule: "
                         f"{counts}")
    report = answer_folder(s.quarantine, d.dataset, d.drop_id) / "rejections.csv"
    if report.exists() and (d.state == "rejected" or d.rows_quarantined or d.rows_flagged):
        lines.append(f"rejection report: {report}")
    return lines


def _init(args: argparse.Namespace) -> int:
    from pipelines.runner import init

    s = settings()
    init(s)
    print(f"warehouse ready: {s.warehouse_url}")
    return 0


def _template(args: argparse.Namespace) -> int:
    from pipelines.contracts import load_contract, load_region
    from pipelines.landing.template import build_template
    from pipelines.validate.suite import RULE_SEVERITY

    out = build_template(load_contract(args.dataset), load_region(), Path(args.output),
                         rule_severity=RULE_SEVERITY)
    print(f"template for {args.dataset}: {out}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pipelines.publish.export import export_layer
    from pipelines.runner import warehouse

    n = export_layer(warehouse(settings()), args.layer, Path(args.output))
    print(f"exported {n} features of {args.layer} to {args.output}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pipelines.runner import report

    paths = report(settings(), Path(args.output) if args.output else None)
    print(f"quality report: {paths.index}")
    print(f"pages:          {len(paths.pages)} in {paths.index.parent}")
    return 0


def _portal(args: argparse.Namespace) -> int:
    from pipelines.portal.app import serve

    serve(settings(), args.host, args.port)
    return 0


def _accounts(args: argparse.Namespace) -> int:
    from pipelines import accounts
    from pipelines.runner import warehouse

    wh = warehouse(settings())
    if args.action == "disable":
        accounts.disable_account(wh, args.login)
        print(f"account {args.login} disabled")
        return 0
    if not args.department:
        raise UsageError("accounts add needs --department")
    # one line from standard input: never an argument, which `ps` and shell history would show;
    # typed at a terminal, not echoed
    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    acct = accounts.add_account(wh, args.login, args.department, args.role, password)
    print(f"account {acct.login} added: {acct.role} of {acct.department}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yitu", description="一图: departments' files in, one base "
                                "map out. YITU_HOME, YITU_WAREHOUSE_URL, YITU_PII_KEY configure it.")
    p.add_argument("-v", "--verbose", action="store_true", help="log each stage")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help="write realistic department files, bad rows included")
    s.add_argument("dir")
    s.add_argument("--seed", type=int, default=42)
    size = s.add_mutually_exclusive_group()
    size.add_argument("--scale", type=int, default=1, help="multiplies the row counts")
    size.add_argument("--province", type=float, metavar="F", help=PROVINCE_HELP)
    s.set_defaults(func=_sample)
    s = sub.add_parser("drop", help="put a file into the landing zone, atomically")
    s.add_argument("file")
    s.add_argument("--dataset", required=True, choices=DATASETS)
    s.set_defaults(func=_drop)
    s = sub.add_parser("run", help="process every pending drop end to end")
    s.add_argument("--dataset", choices=DATASETS)
    s.add_argument("--retry", metavar="DROP_ID",
                   help="answer this failed or rejected drop again first (it is kept in raw/)")
    s.add_argument("--full", action="store_true",
                   help="rebuild every partition (not only those whose inputs changed) and "
                        "publish, even if the layers show the current data")
    s.add_argument("--jobs", type=_jobs, default=None, metavar="N",
                   help="processes to use: datasets answered and counties built side by side "
                        "(PostGIS; the GeoPackage answers one drop at a time); 'auto' = the "
                        "machine's cores; default YITU_JOBS, else 1")
    s.set_defaults(func=_run)
    s = sub.add_parser("status", help="every drop and its outcome; --runs: what each "
                       "integration run and each of its stages cost")
    s.add_argument("--json", action="store_true", help="a JSON array, one object per drop "
                   "(with --runs: per integration run)")
    s.add_argument("--runs", action="store_true", help="the integration runs instead: what "
                   "each stage (plan, each county, publish, report) cost")
    s.add_argument("--last", type=_how_many, default=10, metavar="N",
                   help="with --runs: the last N runs (default 10)")
    s.set_defaults(func=_status)
    s = sub.add_parser("template", help="the department's Excel template, from the contract")
    s.add_argument("dataset", choices=DATASETS)
    s.add_argument("-o", "--output", required=True, help="FILE.xlsx")
    s.set_defaults(func=_template)
    s = sub.add_parser("init", help="create or upgrade the warehouse (schemas, roles, DDL)")
    s.set_defaults(func=_init)
    s = sub.add_parser("export", help="a published layer; format from the extension "
                       "(.gpkg .geojson .parquet .csv)")
    s.add_argument("layer")
    s.add_argument("-o", "--output", required=True)
    s.set_defaults(func=_export)
    s = sub.add_parser("report", help="the data-quality report")
    s.add_argument("-o", "--output", help="directory (default $YITU_HOME/reports)")
    s.set_defaults(func=_report)
    s = sub.add_parser("portal", help="the department portal (web)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    s.set_defaults(func=_portal)
    s = sub.add_parser("accounts", help="portal accounts: add (password from stdin), disable")
    s.add_argument("action", choices=["add", "disable"])
    s.add_argument("login")
    s.add_argument("--department", help="as the contracts name it, e.g. 市场监督管理局")
    s.add_argument("--role", choices=["clerk", "monitor"], default="clerk")
    s.set_defaults(func=_accounts)
    return p


class _Brief(logging.Formatter):
    """Without --verbose, a logged exception as its last line: a library that logs a
    traceback when the warehouse goes away mid-run (SQLAlchemy's pool, returning a dead
    connection) would otherwise print it above yitu's own plain answer."""

    def formatException(self, ei: Any) -> str:  # noqa: N802  (logging's name)
        lines = super().formatException(ei).strip().splitlines()
        return f"  ({lines[-1] if lines else 'error'}; --verbose shows where)"


def _ours_or_warning(record: logging.LogRecord) -> bool:
    """--verbose is for yitu's stages; a library is heard from at WARNING. (Great
    Expectations announces at INFO each function its registry skips on import, 240 lines
    ahead of a run's first stage, and sets one of its loggers to INFO itself: a level on
    its loggers would not hold.)"""
    return record.levelno >= logging.WARNING or record.name.split(".")[0] in ("pipelines",
                                                                               "yitu")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format=fmt)
    if not args.verbose:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_Brief(fmt))
    for handler in logging.getLogger().handlers:
        handler.addFilter(_ours_or_warning)
    try:
        # (on a frame stack with room for the run: `pipelines.stack`; Great Expectations'
        # start-up alone took 59,000 page faults beneath this frame, 30,000 with it)
        return int(roomy(args.func, args))
    except (UsageError, PiiKeyMissing) as exc:
        # Anything else is the pipeline's own failure: it propagates with its traceback, exit 1.
        print(f"yitu: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from pipelines.pii import scrub_free_text
        from pipelines.runner.faults import environment_fault

        if not environment_fault(exc):
            raise
        # The warehouse down, the disk full: nothing is lost, the drops wait; say so plainly.
        logging.getLogger("yitu").debug("environment fault", exc_info=True)
        print(f"yitu: 运行环境故障（仓库不可达或磁盘已满），待处理的文件保留不动，恢复后再次运行即可。"
              f"\n      {type(exc).__name__}: {scrub_free_text(str(exc)).splitlines()[0][:300]}",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
