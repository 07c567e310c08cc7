"""Links from the report to files beside it, relative so the folder can be copied whole."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from pipelines.load.answer import REPORT_FILES, answer_folder
from pipelines.warehouse.ledger import DropRecord


@dataclass(frozen=True)
class Linker:
    reports_dir: Path
    home: Path
    quarantine: Path

    def href(self, target: Path) -> str:
        """Relative when the report lives inside YITU_HOME (copied together), else absolute."""
        reports, target = self.reports_dir.resolve(), target.resolve()
        if reports.is_relative_to(self.home.resolve()):
            return quote(Path(os.path.relpath(target, reports)).as_posix())
        return target.as_uri()

    def rejection_reports(self, drop: DropRecord) -> list[tuple[str, str]]:
        """(file name, href) of the drop's rejection reports that exist."""
        folder = answer_folder(self.quarantine, drop.dataset, drop.drop_id)
        return [(name, self.href(folder / name)) for name in REPORT_FILES
                if (folder / name).is_file()]
