"""Whose fault a failure is. The environment's (the warehouse unreachable, the disk full, the
personal-data key missing) stops the run and leaves the drop pending, to be tried again when
the environment is fixed; anything else while answering one drop is recorded on that drop
(`failed`) and the run goes on, so one file can never hold back the others."""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from pipelines.pii import PiiKeyMissing, scrub_free_text
from pipelines.read.delivery import machine_fault
from pipelines.reasons import whole_file
from pipelines.transient import is_transient
from pipelines.warehouse.ledger import DropRecord

log = logging.getLogger(__name__)
DETAIL_CHARS = 2000  # enough to find the bug; the drop's file is kept in raw/ to reproduce it
FAILED_MESSAGE = ("处理该文件时系统出错（不是文件内容的问题）。文件已原样保存，技术人员排查后会重新处理，"
                  "无需重新报送")


def environment_fault(exc: BaseException) -> bool:
    return is_transient(exc) or machine_fault(exc) or isinstance(exc, PiiKeyMissing)


def failure_note(exc: BaseException) -> dict[str, Any]:
    """What engineers need, with personal data scrubbed from the message and no frame locals."""
    frames = traceback.extract_tb(exc.__traceback__)[-8:]
    return {"type": f"{type(exc).__module__}.{type(exc).__qualname__}",
            "detail": scrub_free_text(str(exc))[:DETAIL_CHARS],
            "where": [f"{f.filename.rsplit('/pipelines/', 1)[-1]}:{f.lineno} {f.name}"
                      for f in frames]}


def mark_failed(rec: DropRecord, exc: BaseException) -> DropRecord:
    """The drop is answered as failed: a plain reason for the department, the detail for
    engineers in its notes (`yitu status --json`) and the log."""
    rec.state = "failed"
    rec.errors = [whole_file("failed", FAILED_MESSAGE)]
    rec.notes["failure"] = failure_note(exc)
    rec.rows_loaded = 0
    rec.processed_at = datetime.now(UTC)
    log.error("drop %s %s: failed with %s: %s (retry: yitu run --retry %s)", rec.drop_id,
              rec.dataset, rec.notes["failure"]["type"], rec.notes["failure"]["detail"],
              rec.drop_id)
    return rec
