"""The answer a department gets when its whole file cannot be taken."""

from __future__ import annotations

from typing import Any


class FileRejected(Exception):
    """The file as a whole is refused; `rule` is the English id, `message` the Chinese reason."""

    def __init__(self, rule: str, message: str, *, field: str | None = None,
                 row: int | None = None) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule, self.message, self.field, self.row = rule, message, field, row

    def as_error(self) -> dict[str, Any]:
        err: dict[str, Any] = {"rule": self.rule, "message": f"[{self.rule}] {self.message}"}
        if self.field is not None:
            err["field"] = self.field
        if self.row is not None:
            err["row"] = self.row
        return err
