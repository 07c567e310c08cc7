"""Why a file or a row was refused or flagged: one typed reason, rendered as the ledger's and
the rejection report's JSON, the report's CSV row, and the line `yitu status` prints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Scope = Literal["file", "row", "cell"]
Severity = Literal["fail", "warn"]
# the rejection report's CSV header, written even when there is nothing to report
CSV_COLUMNS = ["文件 file", "行 row", "字段 field", "规则 rule", "级别 severity", "原因 reason",
               "值 value"]


@dataclass(frozen=True)
class Reason:
    """`file`: the whole file is refused (it may still name the line it stumbled on); `row`:
    a row fails a rule of several fields or of its geometry; `cell`: one field of one row."""

    scope: Scope
    rule: str  # the rule's English id, e.g. `domain`
    message: str  # the Chinese reason a department clerk reads
    severity: Severity = "fail"  # fail: not loaded (or the file refused); warn: loaded, flagged
    field: str | None = None
    row: int | None = None
    value: str | None = None  # masked where personal

    @property
    def whole_file(self) -> bool:
        return self.scope == "file"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form kept in the ledger and written to rejections.json."""
        out: dict[str, Any] = {"scope": self.scope, "rule": self.rule, "severity": self.severity,
                               "message": self.message}
        for key in ("field", "row", "value"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reason:
        # Ledger rows written before reasons had a scope: a whole-file reason had no severity.
        scope: Scope = d.get("scope") or ("file" if "severity" not in d else
                                          "cell" if d.get("field") else "row")
        return cls(scope=scope, rule=str(d["rule"]), message=str(d["message"]),
                   severity=d.get("severity", "fail"), field=d.get("field"),
                   row=None if d.get("row") is None else int(d["row"]), value=d.get("value"))

    def csv_row(self, file: str) -> dict[str, Any]:
        return dict(zip(CSV_COLUMNS, (file, self.row, self.field, self.rule, self.severity,
                                      self.message, self.value), strict=True))

    def status_line(self) -> str:
        if self.whole_file or self.row is None:
            return self.message
        return f"第 {self.row} 行 {self.field or ''}：{self.message}"

def file_reasons(errors: list[dict[str, Any]]) -> list[Reason]:
    """The whole-file reasons among a drop's stored errors, in order."""
    return [r for r in map(Reason.from_dict, errors) if r.whole_file]


def whole_file(rule: str, message: str, *, field: str | None = None,
               row: int | None = None) -> dict[str, Any]:
    """A whole-file reason as stored: the message is prefixed with its rule id, as departments
    have been told since the first version (`[unreadable] …`)."""
    return Reason("file", rule, f"[{rule}] {message}", field=field, row=row).as_dict()
