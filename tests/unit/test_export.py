"""CSV exports open safely in a spreadsheet: formulas are neutralised, numbers untouched."""

from __future__ import annotations

import pandas as pd

from pipelines.publish.export import _escape_formulas


def test_cells_that_would_run_as_formulas_are_escaped() -> None:
    frame = pd.DataFrame({
        "name": ["=HYPERLINK(\"http://x\")", "+86 138", "-2+3", "@SUM(A1)", "甲公司"],
        "area_mu": [-1.5, 2.0, 3.0, 4.0, 5.0],
    })
    out = _escape_formulas(frame)
    assert list(out["name"]) == ["'=HYPERLINK(\"http://x\")", "'+86 138", "'-2+3", "'@SUM(A1)",
                                 "甲公司"]
    assert list(out["area_mu"]) == [-1.5, 2.0, 3.0, 4.0, 5.0]  # numbers stay numbers
    assert frame["name"].iloc[0].startswith("=")  # the published frame is not modified
