"""Parse an untrusted file in a child process under a memory ceiling and a time limit.

The limits of `pipelines.read.limits` refuse what can be measured up front; this catches the
rest: a parser that still blows up runs out of its own ceiling (MemoryError, or an abort in
native code) or its time, and the file is answered `too_large`, never a dead worker.

The child is forked from a forkserver that has already imported the readers (pandas, pyarrow,
GDAL, calamine), so a parse costs a fork, not an interpreter start. The ceiling is held two
ways. The parent watches the child's anonymous resident memory (RssAnon: what the parse has
really committed, file mappings left out) every WATCH_SECONDS and kills it past the ceiling.
Behind that, RLIMIT_DATA at BACKSTOP times the ceiling makes one absurd allocation (17 GB for
a sheet's dense area) fail at once, before any page is touched. Neither RLIMIT_AS nor
RLIMIT_DATA can be the ceiling itself: they count address space that is only reserved
(allocator arenas, thread stacks: a child that has parsed a 240 MB CSV holds ~1 GB but has
reserved 1.5-3.6 GB) and would refuse good files. The frame comes back as an Arrow IPC file
in the drop's work folder, and the rest of the answer as JSON: nothing the child sends is
unpickled by the parent.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import multiprocessing
import os
import resource
import signal
import sys
import threading
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, NoReturn

from pipelines.read import frames, safety
from pipelines.read.delivery import RawDelivery, machine_fault
from pipelines.read.errors import FileRejected, library_detail, too_large
from pipelines.read.limits import Budget

Reader = Callable[..., RawDelivery]
PRELOAD = ["pipelines.read.warm"]  # the readers, each run once on a tiny input
ANSWER_BYTES = 1024**2  # the JSON answer: notes and a traceback, never rows
WATCH_SECONDS = 0.05  # how often the parent looks at the child's memory
BACKSTOP = 4  # RLIMIT_DATA, as a multiple of the ceiling (see above)
_context: ForkServerContext | None = None
# What the reading children cost, as they reported it: they are the forkserver's children,
# not this process's, so this process's own rusage never counts them (runner.metrics adds it).
CHILDREN: dict[str, float] = {"cpu_s": 0.0, "peak_mb": 0.0}
_BESIDE: list[Callable[[], None]] = []  # see `beside_next_parse`
log = logging.getLogger(__name__)


def parse(reader: Reader, args: tuple[Any, ...], workdir: Path, budget: Budget,
          name: str) -> RawDelivery:
    """`reader(*args)` in the child; in this process where no child may be started (a
    daemonic one: said in the log, as the memory ceiling and time limit do not hold there)."""
    if multiprocessing.current_process().daemon:  # daemonic processes may have no children
        log.warning("%s parsed in this daemonic process (%s), not in a reading child: no "
                    "memory ceiling or time limit holds", name,
                    multiprocessing.current_process().name)
        return reader(*args)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / f".read-{uuid.uuid4().hex}.arrow"
    try:
        answer = _run(reader, args, out, budget)
        try:
            return _answered(answer, out, budget, name)
        except FileRejected as exc:
            exc.peak_rss_mb = answer.get("peak_mb")
            raise
    finally:
        out.unlink(missing_ok=True)


def beside_next_parse(fn: Callable[[], None]) -> None:
    """Run `fn` in a thread of this process while the next file's reading child parses it,
    done before that parse returns: work that would otherwise share this process's GIL with
    the unpacking and conforming around the parse (Great Expectations' import, 3 CPU s,
    made while a county's parcels were read: the read took 7.2-8.8 s against 4.9 s with the
    import after it). Meanwhile this thread only watches the child, so `fn` has the GIL, and
    the child's memory and time are watched throughout. Not run where no child parses (a
    file refused before it is parsed, a daemonic process): whatever needs `fn`'s work does
    it then. An exception in `fn` is logged and left to that later use to raise again.
    Only for work that forks nothing (this process forks no child while it runs)."""
    _BESIDE.append(fn)


def _beside(fn: Callable[[], None]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001  # raised again where its work is needed
        log.debug("%s beside a parse failed", fn, exc_info=True)


def prestart() -> None:
    """Start the forkserver now: its imports take seconds, which then overlap the caller's
    own start-up (a run's ledger and warehouse work) instead of delaying the first file."""
    if not multiprocessing.current_process().daemon:
        _ctx()
        forkserver.ensure_running()


def after_fork() -> None:
    """In a process forked from one that had started the forkserver: forget that server, so
    this process starts its own on first use. multiprocessing keeps one forkserver per process
    in a module-level object and, inherited across a plain fork, that object still names the
    parent's server, which the child cannot wait on (`ensure_running` fails with ECHILD, and
    every file would be answered as a machine fault). multiprocessing has no public way to
    reset it, hence the attributes below (CPython 3.11's `forkserver.ForkServer`)."""
    server = forkserver._forkserver
    alive = getattr(server, "_forkserver_alive_fd", None)
    if getattr(server, "_forkserver_pid", None) is None:
        return  # nothing started before the fork
    if alive is not None:
        with contextlib.suppress(OSError):
            os.close(alive)  # the parent's server lives on its own copy of this pipe end
    for name in ("_forkserver_alive_fd", "_forkserver_address", "_forkserver_pid"):
        setattr(server, name, None)


def _ctx() -> ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


@contextmanager
def _without_main() -> Iterator[None]:
    """multiprocessing runs the parent's main script again in every spawned or forkserver
    child (for functions defined there): `airflow`'s or a script's, at a cost or with effects.
    The reader functions live in pipelines.read, so the child is told of no main module."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _run(reader: Reader, args: tuple[Any, ...], out: Path, budget: Budget) -> dict[str, Any]:
    ctx = _ctx()
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child, args=(send, reader, args, str(out), budget), daemon=True)
    try:
        with _without_main():
            child.start()
    except Exception as exc:  # no child could be had: this machine's fault, never the file's
        raise OSError(errno.EIO, f"the reading child could not be started: "
                      f"{type(exc).__name__}: {exc}") from exc
    finally:
        send.close()
    beside = [threading.Thread(target=_beside, args=(fn,), name="yitu-beside-parse",
                               daemon=True) for fn in _BESIDE]
    _BESIDE.clear()
    for thread in beside:
        thread.start()
    answer: dict[str, Any] = {}
    try:
        answer = _watch(receive, child.pid or 0, budget)
    finally:
        if child.is_alive() and ("ok" in answer or "rejected" in answer):
            child.join(5)  # it is exiting
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
        for thread in beside:
            thread.join()
    answer.setdefault("exitcode", child.exitcode)
    CHILDREN["cpu_s"] += float(answer.get("cpu_s") or 0.0)
    CHILDREN["peak_mb"] = max(CHILDREN["peak_mb"], float(answer.get("peak_mb") or 0.0))
    return answer


def _anon_mb(pid: int) -> float:
    """The process's anonymous resident memory (Linux); 0 where it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"RssAnon:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _watch(receive: Connection, pid: int, budget: Budget) -> dict[str, Any]:
    deadline = time.monotonic() + budget.seconds
    peak = 0.0
    while not receive.poll(WATCH_SECONDS):
        peak = max(peak, _anon_mb(pid))
        if peak > budget.memory_mb:
            return {"memory": f"resident memory {peak:.0f} MB past the ceiling",
                    "peak_mb": peak}
        if time.monotonic() > deadline:
            return {"timeout": True, "peak_mb": peak}
    try:
        answer: dict[str, Any] = json.loads(receive.recv_bytes(ANSWER_BYTES))
    except (EOFError, OSError, ValueError):
        return {}
    return answer


def _answered(answer: dict[str, Any], out: Path, budget: Budget, name: str) -> RawDelivery:
    if answer.get("timeout"):
        raise too_large(name, "读取用时过长", f"读取时间 {budget.seconds:g} 秒",
                        detail="the reading child ran out of time and was killed")
    if "ok" in answer:
        raw = frames.load(out, answer["notes"])
        raw.peak_rss_mb = answer.get("peak_mb")
        return raw
    if "rejected" in answer:
        rule, message, field, row, detail = answer["rejected"]
        raise FileRejected(rule, message, field=field, row=row, detail=detail)
    if "memory" in answer:
        raise _out_of_memory(name, budget, answer["memory"])
    if "machine" in answer:
        code, text = answer["machine"]
        raise MemoryError(text) if code is None else OSError(code, text)
    if "error" in answer:
        raise FileRejected("unreadable", f"无法读取 {name}（文件损坏或结构有误）：请确认文件能在 "
                           "Excel/WPS 或 QGIS 中正常打开、扩展名与格式一致后重新报送",
                           detail=f"{answer['error']}\n{answer.get('trace', '')}")
    return _died(int(answer["exitcode"] or 0), name, budget)


def _out_of_memory(name: str, budget: Budget, detail: str) -> FileRejected:
    return too_large(name, "读取时所需内存过大", f"读取内存 {budget.memory_mb} MB", detail=detail)


def _died(exitcode: int, name: str, budget: Budget) -> NoReturn:
    """The child ended without an answer: killed by the kernel (this machine is short of
    memory: not the file's fault), aborted in native code (an allocation past the ceiling),
    crashed in a parser, or failed before it could read anything (ours to fix)."""
    detail = f"the reading child ended with exit code {exitcode} and no answer"
    if exitcode == -signal.SIGKILL:
        raise MemoryError(detail)
    if exitcode > 0:  # Python's own exit: the child's start-up failed, not the file
        raise OSError(errno.EIO, detail)
    if exitcode == -signal.SIGABRT:
        raise _out_of_memory(name, budget, detail)
    raise FileRejected("unreadable", f"读取 {name} 时读取程序异常终止（文件结构异常）：请确认文件能在 "
                       "Excel/WPS 或 QGIS 中正常打开后重新报送", detail=detail)


def _child(send: Connection, reader: Reader, args: tuple[Any, ...], out: str,
           budget: Budget) -> None:
    started = time.monotonic()
    answer: dict[str, Any]
    try:
        limit = BACKSTOP * budget.memory_mb * 1024**2
        hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
        limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
        safety.disable_gdal_network()
        raw = reader(*args)
        frames.save(raw, Path(out))
        answer = {"ok": True, "notes": raw.notes}
    except FileRejected as exc:
        answer = {"rejected": [exc.rule, exc.message, exc.field, exc.row, exc.detail]}
    except MemoryError as exc:
        answer = {"memory": library_detail(exc)}
    except BaseException as exc:  # noqa: BLE001  # a Rust panic is a BaseException
        if machine_fault(exc):
            answer = {"machine": [getattr(exc, "errno", None), str(exc)]}
        else:
            answer = {"error": library_detail(exc), "trace": traceback.format_exc()[-4000:]}
    own = resource.getrusage(resource.RUSAGE_SELF)
    answer["peak_mb"] = own.ru_maxrss / 1024
    answer["cpu_s"] = own.ru_utime + own.ru_stime
    answer["seconds"] = round(time.monotonic() - started, 3)
    try:
        send.send_bytes(json.dumps(answer, ensure_ascii=False, default=str).encode())
    except (MemoryError, OSError, ValueError):
        send.send_bytes(json.dumps({"memory": "answer too large"}).encode())
    send.close()

