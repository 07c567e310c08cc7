"""The answer a department gets when its whole file cannot be taken.

The message is what the clerk reads: Chinese, naming the file as the department sent it, the
row and field where known and what to fix; never a server path, a library's words or a
traceback. Those go to `detail`, for the engineers' log only. Both are scrubbed of phone and
ID numbers, since a parser's message may quote a row of the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pipelines.pii import scrub_free_text
from pipelines.reasons import whole_file

DETAIL_CHARS = 2000
# The raw archive keeps a drop as `<drop id>__<name as sent>` (pipelines.landing.drops): the
# drop id is `<dataset>-<YYYYmmddTHHMMSSffffff>-<8 hex>`.
_ARCHIVED = re.compile(r"^[a-z0-9_]+-\d{8}T\d{6,12}-[0-9a-f]{8}__(?=.)")


class FileRejected(Exception):
    """The file as a whole is refused; `rule` is the English id, `message` the Chinese reason,
    `detail` what the engineers need (a library's own message), never shown to the sender."""

    def __init__(self, rule: str, message: str, *, field: str | None = None,
                 row: int | None = None, detail: str | None = None) -> None:
        message = scrub_free_text(message)
        detail = scrub_free_text(detail)[:DETAIL_CHARS] if detail else None
        super().__init__(f"[{rule}] {message}" + (f" (detail: {detail})" if detail else ""))
        self.rule, self.message, self.field, self.row = rule, message, field, row
        self.detail = detail
        self.peak_rss_mb: float | None = None  # of the child that parsed the file, if one did

    def as_error(self) -> dict[str, Any]:
        return whole_file(self.rule, self.message, field=self.field, row=self.row)


def display_name(path: Path | str) -> str:
    """The file's name as the department sent it: without the archive's drop-id prefix."""
    name = Path(path).name
    return _ARCHIVED.sub("", name, count=1)


SPLIT_ADVICE = "请拆分为多个较小的文件，或删去多余的行、列和工作表后重新报送"


def too_large(name: str, what: str, limit: str, *, row: int | None = None,
              field: str | None = None, detail: str | None = None,
              advice: str = SPLIT_ADVICE) -> FileRejected:
    """A limit exceeded: `what` the file has, `limit` the limit as the clerk reads it."""
    return FileRejected("too_large", f"{name} {what}，超过上限（{limit}），已拒收：{advice}",
                        row=row, field=field, detail=detail)


def library_detail(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
