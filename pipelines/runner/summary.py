"""A short summary after a run: what loaded, what was rejected, where to look."""

from __future__ import annotations

from pipelines.config import Settings, settings
from pipelines.runner import warehouse
from pipelines.warehouse import ledger


def summarise(s: Settings) -> str:
    wh = warehouse(s)
    lines = ["", "yitu: drops"]
    for d in ledger.list_drops(wh):
        lines.append(f"  {d.state:9} {d.dataset:16} {d.file:24} read {d.rows_read or 0:>6}  "
                     f"loaded {d.rows_loaded or 0:>6}  quarantined {d.rows_quarantined or 0:>5}  "
                     f"flagged {d.rows_flagged or 0:>5}")
        if d.state == "rejected" and d.errors:
            lines.append(f"            {d.errors[0]['message']}")
    layers = wh.published_layers()
    lines.append("")
    lines.append("published layers: " + (", ".join(
        f"{name} ({len(wh.read_published(name))})" for name in layers) or "none yet"))
    where = getattr(wh, "publish_path", None) or s.warehouse_url
    lines += [f"  open in QGIS:      {where}",
              f"  quality report:   {s.reports / 'index.html'}",
              f"  rejection reports:{s.quarantine}",
              f"  raw archive:      {s.raw}",
              "  details:          uv run yitu status --json"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarise(settings()))
