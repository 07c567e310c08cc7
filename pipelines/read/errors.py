"""The answer a department gets when its whole file cannot be taken."""

from __future__ import annotations

from typing import Any

from pipelines.reasons import whole_file


class FileRejected(Exception):
    """The file as a whole is refused; `rule` is the English id, `message` the Chinese reason."""

    def __init__(self, rule: str, message: str, *, field: str | None = None,
                 row: int | None = None) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule, self.message, self.field, self.row = rule, message, field, row

    def as_error(self) -> dict[str, Any]:
        return whole_file(self.rule, self.message, field=self.field, row=self.row)
