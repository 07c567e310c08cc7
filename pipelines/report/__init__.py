"""The data-quality report: a static site a monitor opens in a browser, online or not.

index.html (overview, timeliness, scorecard), dataset-<name>.html (trends, validation results
in Chinese with failing rows, profiles), assessment-<quarter>.html (rankings), maps.html
(layer previews) and quality.json. Everything is drawn here from the warehouse; nothing is
fetched when it is viewed."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import settings
from pipelines.contracts import Contract, LayerContract, all_contracts, all_layers, load_region
from pipelines.report.assessment import LATEST_PAGE, assessment_pages, quarter_page
from pipelines.report.dataset_page import dataset_page, page_name
from pipelines.report.facts import (
    DatasetFacts,
    dataset_facts,
    pbf_shrinkage,
    quality_by_drop,
    validity,
)
from pipelines.report.links import Linker
from pipelines.report.maps import MAX_FEATURES, LayerMap, layer_map
from pipelines.report.page import front_page, maps_page
from pipelines.report.profile import (
    Movement,
    Profile,
    delivery_profile,
    movements,
    profiles_dir,
)
from pipelines.report.rules import kept_samples
from pipelines.report.scorecard import Score, department_scores
from pipelines.report.site import shell, write_stylesheet
from pipelines.warehouse import Warehouse, ledger
from pipelines.warehouse.counties import current_counties

__all__ = ["ReportPaths", "pbf_shrinkage", "quality_by_drop", "write_report"]
ASSESSMENT_LAYER = "county_assessment"


@dataclass
class ReportPaths:
    index: Path
    quality_json: Path
    pages: list[Path] = field(default_factory=list)  # every HTML page, index first


def _profiles(wh: Warehouse, f: DatasetFacts, folder: Path
              ) -> dict[str, tuple[Profile | None, list[Movement]]]:
    """Each recent delivery's profile and its movement against the loaded delivery before."""
    loaded = [d for d in f.deliveries if d.state == "loaded" and d.rows_loaded]
    shown = {d.drop_id for d in f.recent}
    out: dict[str, tuple[Profile | None, list[Movement]]] = {}
    for i, d in enumerate(loaded):
        if d.drop_id not in shown:
            continue
        now = delivery_profile(wh, f.contract, d, folder)
        before = delivery_profile(wh, f.contract, loaded[i - 1], folder) if i else None
        snapshot = f.contract.delivery == "snapshot"
        out[d.drop_id] = (now, movements(before, now, snapshot) if before and now else [])
    return out


def _assessment(wh: Warehouse, now: datetime) -> dict[str, str]:
    """Page name -> HTML of the quarterly assessment (a placeholder until there is one)."""
    # Imported here: the department view is built from this package's facts and timeliness,
    # so importing it at the top would make the two packages import each other.
    from pipelines.integrate.assessment_departments import department_quarters

    layer = next(x for x in all_layers() if x.layer == ASSESSMENT_LAYER)
    counties = (pd.DataFrame(wh.read_published(ASSESSMENT_LAYER))
                if ASSESSMENT_LAYER in wh.published_layers() else None)
    departments = department_quarters(wh, now)
    if (counties is None or counties.empty) and departments.empty:
        return {LATEST_PAGE: shell("季度考核", "<p>尚无季度考核数据。</p>", now)}
    pages = assessment_pages(counties if counties is not None else pd.DataFrame(
        columns=layer.column_names), departments, layer, now)
    out = {quarter_page(p.quarter): p.html for p in pages}
    out[LATEST_PAGE] = pages[-1].html
    return out


def write_report(wh: Warehouse, reports_dir: Path, now: datetime | None = None) -> ReportPaths:
    now = now or datetime.now(UTC)
    reports_dir.mkdir(parents=True, exist_ok=True)
    s = settings()
    linker = Linker(reports_dir, s.home, s.quarantine)
    contracts = all_contracts()
    drops = ledger.list_drops(wh)
    facts = dataset_facts(contracts, drops, quality_by_drop(wh), now)
    scores = department_scores(facts)
    shrinkage = pbf_shrinkage(wh, drops)
    region = load_region()
    samples = kept_samples(wh, contracts, [d for f in facts for d in f.recent],
                           reports_dir / "samples")
    pages: dict[str, str] = {"index.html": front_page(facts, scores, linker, now, shrinkage)}
    for f in facts:
        profiles = _profiles(wh, f, profiles_dir(reports_dir))
        pages[page_name(f.contract.dataset)] = dataset_page(f, region, samples, profiles,
                                                            linker, now)
    pages.update(_assessment(wh, now))
    outlines = current_counties(wh).geometry
    # the layers of the contracts only: a GeoPackage also lists tables such as QGIS's styles
    published = set(wh.published_layers())
    layers = {x.layer: x for x in all_layers() if x.layer in published}
    # the samples read side by side where the warehouse can (at 1x, seven reads one after
    # another: 0.9 s at the end of every run, mostly waiting for the server)
    with ThreadPoolExecutor(2 if wh.reads_side_by_side else 1, "yitu-preview") as pool:
        previews = dict(zip(layers, pool.map(lambda n: _preview(wh, n, outlines, layers[n]),
                                             layers), strict=True))
    pages["maps.html"] = maps_page(previews, layers, now)
    write_stylesheet(reports_dir)
    for name, html in pages.items():
        (reports_dir / name).write_text(html, encoding="utf-8")
    quality_json = reports_dir / "quality.json"
    quality_json.write_text(json.dumps(
        {"generated_at": now.isoformat(), "datasets": [_summary(f) for f in facts],
         "scorecard": [_score(s) for s in scores], "pbf_shrinkage": shrinkage},
        ensure_ascii=False, indent=2, default=str), "utf-8")
    return ReportPaths(reports_dir / "index.html", quality_json,
                       [reports_dir / name for name in pages])


def _preview(wh: Warehouse, name: str, outlines: Any, layer: LayerContract) -> LayerMap:
    """A layer's map: drawn from an even sample read by the warehouse (a province's layers
    hold millions of rows; the map draws at most MAX_FEATURES), or from the whole layer when
    it is small enough to draw whole."""
    total, rows = wh.read_published_sample(name, MAX_FEATURES)
    if len(rows) == total:
        return layer_map(name, _latest_quarter(rows), outlines, layer)
    return layer_map(name, rows, outlines, layer, total=total)


def _latest_quarter(gdf: Any) -> Any:
    """A layer kept per quarter is previewed for its latest quarter (one shape per county)."""
    if "quarter" in gdf.columns and len(gdf):
        return gdf[gdf["quarter"] == gdf["quarter"].max()]
    return gdf


def _summary(f: DatasetFacts) -> dict[str, Any]:
    c: Contract = f.contract
    d, t = f.latest, f.timeliness
    return {
        "dataset": c.dataset, "title": c.title, "department": c.department,
        "cadence": c.cadence, "deliveries": len(f.deliveries),
        "latest_drop": d.drop_id if d else None, "latest_file": d.file if d else None,
        "latest_state": d.state if d else None,
        "rows_read": d.rows_read if d else None, "rows_loaded": d.rows_loaded if d else None,
        "rows_quarantined": d.rows_quarantined if d else None,
        "rows_flagged": d.rows_flagged if d else None,
        "validity": validity(d) if d else None,
        "timeliness": t.status, "last_delivery": t.last_delivery,
        "expected_next": t.expected_next, "days_late": t.days_late,
        "rules": [{"rule": r.rule, "field": r.field, "severity": r.severity,
                   "checked": r.checked, "failed": r.failed,
                   "pass_rate": None if r.pass_rate is None else round(r.pass_rate, 4)}
                  for r in f.latest_rules()],
    }


def _score(s: Score) -> dict[str, Any]:
    return {"department": s.department, "datasets": s.datasets,
            "completeness": s.completeness, "validity": s.validity,
            "timeliness": s.timeliness, "overall": s.overall}
