"""Work proportional to the change: after each kind of delivery a run rebuilds only the
partitions (`<county>/<family>`) whose inputs changed, takes the others from the published
run, and publishes exactly what a full rebuild (`yitu run --full`) publishes, row for row.
On both warehouses: the folder store beside the GeoPackage, the staging schema of PostGIS."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from pipelines.config import Settings, settings
from pipelines.integrate import FAMILIES
from pipelines.landing.drops import drop_file
from tests.digests import published_digest

AS_OF = "2026-11-16T12:00:00"  # the tests' YITU_AS_OF (tests/conftest.py)


def _complaints(sample: Path, out: Path) -> tuple[str, Path]:
    """60 new work orders of one county (a delivery to that county's hotline desk)."""
    rows = pd.read_csv(sample / "complaints.csv", encoding="gbk", dtype=str,
                       keep_default_na=False)
    rows = rows[rows["XZQDM"] == rows["XZQDM"].value_counts().index[0]].head(60)
    key = rows.columns[0]  # ＧＤＢＨ, the hotline's full-width header
    rows[key] = rows[key].str[:-5] + "9" + rows[key].str[-4:]
    path = out / "工单-第二批.csv"
    rows.to_csv(path, index=False, encoding="gbk")
    return "complaints", path


def _licences(sample: Path, out: Path) -> tuple[str, Path]:
    """40 licences with a new name (an increment updating registered businesses)."""
    rows = pd.read_excel(sample / "licenses.xlsx", header=1, dtype=str).head(40)
    rows["主体名称"] = rows["主体名称"] + "（变更）"
    path = out / "证照-变更.xlsx"
    rows.to_excel(path, index=False)
    return "licenses", path


def _county(frame: gpd.GeoDataFrame, column: str) -> str:
    return str(frame[column].value_counts().index[0])


def _pbf(sample: Path, out: Path) -> tuple[str, Path]:
    """One county's parcels sent again, five of them gone (a snapshot of that county)."""
    parcels = gpd.read_file(sample / "farmland_pbf.zip")
    county = _county(parcels, "XZQDM")
    path = out / f"永久基本农田-{county}.gpkg"
    parcels[parcels["XZQDM"] == county].iloc[5:].to_file(path, layer="农田", driver="GPKG")
    return "farmland_pbf", path


def _hsf(sample: Path, out: Path) -> tuple[str, Path]:
    """One county's projects sent again, one of them gone."""
    projects = gpd.read_file(sample / "farmland_hsf.gpkg")
    county = _county(projects, "xzqdm")
    path = out / f"高标准农田-{county}.gpkg"
    mine = projects[(projects["xzqdm"] == county) & projects.geometry.is_valid]
    mine.iloc[1:].to_file(path, layer="项目", driver="GPKG")  # (the invalid ones: quarantined)
    return "farmland_hsf", path


def _admin(sample: Path, out: Path) -> tuple[str, Path]:
    """The counties again, one renamed: every partition reads them."""
    counties = gpd.read_file(sample / "admin_divisions.gpkg")
    counties.loc[0, "XZQMC"] = str(counties.loc[0, "XZQMC"]) + "（新）"
    path = out / "行政区划-更名.gpkg"
    counties.to_file(path, layer="行政区", driver="GPKG")
    return "admin_divisions", path


def _families(built: list[str]) -> set[str]:
    return {k.rpartition("/")[2] for k in built}


def _codes(built: list[str], family: str | None = None) -> set[str]:
    """The counties (partitions) of `built`, of one family or any."""
    return {k.rpartition("/")[0] for k in built if family in (None, k.rpartition("/")[2])}


# kind -> (delivery, what the run may rebuild: given the partitions built and all of them)
KINDS: dict[str, tuple[Callable[[Path, Path], tuple[str, Path]],
                       Callable[[list[str], list[str]], bool]]] = {
    "complaints": (_complaints, lambda built, every: _families(built) == {"complaints"}
                   and len(built) <= 3),
    "licences": (_licences, lambda built, every: _families(built) == {"licences", "complaints"}
                 and not [k for k in every if k.endswith("/complaints") and k not in built]),
    "one county's PBF": (_pbf, lambda built, every: _families(built) == set(FAMILIES)
                         and _codes(built, "farmland") <= _codes(built, "licences")
                         and _codes(built, "farmland") <= _codes(built, "complaints")
                         and 0 < len(_codes(built)) < len(_codes(every)) / 3),
    "one county's HSF": (_hsf, lambda built, every: _families(built) == {"farmland"}
                         and len(built) < sum(k.endswith("/farmland") for k in every) / 3),
    "admin divisions": (_admin, lambda built, every: sorted(built) == sorted(every)),
}


def _assert_counted_as_fresh(s: Settings, kind: str) -> None:
    """The assessment's counts of rows per delivery and county, taken from the run published
    before for the drops it had counted, equal those counted afresh; and they are taken from
    it (altered there, they come back altered), unless the drop was answered again."""
    from pipelines import runner
    from pipelines.integrate.assessment_sources import COUNTS, delivery_counts
    from pipelines.runner.integration import DELIVERED, store

    wh = runner.warehouse(s)
    staged = store(s, wh)
    found = staged.read(staged.published() or "", DELIVERED)
    assert found is not None, kind
    key = ["drop_id", "county_code"]
    kept = pd.DataFrame(found[DELIVERED][COUNTS]).sort_values(key, ignore_index=True)
    fresh = delivery_counts(wh).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(kept.astype({"rows": "int64", "rejected": "int64"}), fresh,
                                  check_dtype=False, obj=kind)
    altered = kept.assign(rows=kept["rows"] + 1000)
    altered.loc[0, "answered_at"] = "answered at another moment"  # answered again since
    again = delivery_counts(wh, altered).sort_values(key, ignore_index=True)
    taken = again["drop_id"] != kept.loc[0, "drop_id"]
    assert (again["rows"][taken] == fresh["rows"][taken] + 1000).all(), kind
    assert (again["rows"][~taken] == fresh["rows"][~taken]).all(), kind
    wh.engine.dispose()


def _run(full: bool = False) -> tuple[dict[str, tuple[int, str]], list[str]]:
    from pipelines import runner
    from pipelines.runner.integration import LAST_RUN_COST

    s = settings()
    # The incremental runs in two forked workers, the full rebuilds in one process: equal
    # digests also say that `yitu run --jobs 2` builds what one process builds.
    summary = runner.run_all(s, full=full, jobs=1 if full else 2)
    assert summary.published, "the run published nothing"
    wh = runner.warehouse(s)
    built = json.loads(wh.meta(LAST_RUN_COST) or "{}")["integrate"]["partitions"]
    digest = published_digest(wh)
    wh.engine.dispose()
    return digest, built


def _farmland_read() -> str:
    """How much of the farmland the last run read: "whole", or "part" (see inputs_cache)."""
    from pipelines import runner
    from pipelines.runner.integration import LAST_RUN_COST

    wh = runner.warehouse(settings())
    read = json.loads(wh.meta(LAST_RUN_COST) or "{}")["integrate.read"]["farmland"]
    wh.engine.dispose()
    return str(read)


# PostGIS runs the same runner on its staging schema (tests/integration/test_staging.py tests
# that store on its own): the kinds read in part there, every kind on the embedded warehouse.
ON_POSTGIS = ("complaints", "one county's PBF", "one county's HSF")


def _tables(s: Settings) -> dict[str, tuple[int, Counter[tuple[int, str]]]]:
    """The published tables (PostGIS): per layer its identity (a layer swapped in whole is a
    new table) and its rows as (fid, md5 of the row without fid)."""
    if s.embedded:
        return {}
    from pipelines import runner

    wh = runner.warehouse(s)
    out = {}
    with wh.engine.connect() as conn:
        found = conn.execute(text("SELECT c.relname, c.oid::bigint FROM pg_class c JOIN "
                                  "pg_namespace n ON n.oid = c.relnamespace "
                                  "WHERE n.nspname = 'publish' AND c.relkind = 'r'")).all()
        for name, oid in found:
            rows = conn.execute(text(f"SELECT fid, md5((to_jsonb(t) - 'fid')::text) "
                                     f"FROM publish.{name} t")).all()
            out[str(name)] = (int(oid), Counter((int(f), str(h)) for f, h in rows))
    wh.engine.dispose()
    return out


def _published_by(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    """How the last run published each layer it published (PostGIS): 'whole' or 'by
    difference', from pipelines.publish.difference's log."""
    out = {}
    for record in caplog.records:
        if record.name == "pipelines.publish.difference" and record.args:
            name, how = record.args[0], record.getMessage().split(": ", 1)[1]
            out[str(name)] = "whole" if how.startswith("whole") else "by difference"
    caplog.clear()
    return out


def _compared(caplog: pytest.LogCaptureFixture) -> dict[str, int]:
    """Per layer published by parts (PostGIS), how many of its parts the last run's publish
    read and compared: the others were published already as built by the same run."""
    out = {}
    for record in caplog.records:
        if record.name == "pipelines.publish.difference" and "parts compared" in record.msg:
            out[str(record.args[0])] = int(record.args[1])  # type: ignore[index]
    return out


def _kept_fids(before: Counter[tuple[int, str]], after: Counter[tuple[int, str]]) -> bool:
    """Every row in both (by content, as a multiset) kept its fid: as many (fid, row) pairs
    are in both as rows are."""
    rows_before = Counter(h for _, h in before.elements())
    rows_after = Counter(h for _, h in after.elements())
    return sum((before & after).values()) == sum((rows_before & rows_after).values())


def _forget_published_rows(s: Settings) -> None:
    """Without its hash record every layer is swapped in whole: so a full rebuild publishes
    as before publish by difference, and the incremental run's layers are compared with it."""
    if s.embedded:
        return
    from pipelines import runner

    wh = runner.warehouse(s)
    with wh.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit.published_layers"))
    wh.engine.dispose()


def test_each_kind_of_change_rebuilds_only_what_reads_it(home: Path, sample_dir: Path,
                                                         tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    caplog.set_level(logging.INFO, logger="pipelines.publish.difference")
    s = settings()
    kinds = [k for k in KINDS if s.embedded or k in ON_POSTGIS]
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    first, every = _run()
    assert len(every) == 3 * first["region_summary"][0]  # every county, every family
    files = tmp_path / "deliveries"
    files.mkdir()
    for kind in kinds:
        make, expected = KINDS[kind]
        dataset, path = make(sample_dir, files)
        drop_file(s, path, dataset)
        before = _tables(s)
        caplog.clear()
        incremental, built = _run()
        _assert_counted_as_fresh(s, kind)
        # work orders only: the farmland is left unread, but the parcels under new orders;
        # one county's parcels (PostGIS): read where they changed (inputs_cache._zoned)
        part = kind == "complaints" or (kind.startswith("one county's") and not s.embedded)
        assert _farmland_read() == ("part" if part else "whole"), kind
        if not s.embedded:  # PostGIS publishes only the layers of the families rebuilt...
            families = _families(built)
            kept = {name for family, names in FAMILIES.items() if family not in families
                    for name in names}
            compared = _compared(caplog)
            published = _published_by(caplog)
            after = _tables(s)
            assert kept.isdisjoint(published) and kept <= set(after), kind
            assert all(before[n] == after[n] for n in kept), kind  # not touched
            # ... by difference where few rows differ: the same table, unchanged rows keep
            # their fid; the others swapped in whole, a new table
            main = {"complaints": "complaints_enriched", "one county's PBF": "farmland_base_map",
                    "one county's HSF": "farmland_base_map"}[kind]
            assert published[main] == "by difference", (kind, published)
            # ... reading only the partitions this run built of it: the others are the
            # published ones (built by the same run)
            family = next(f for f, names in FAMILIES.items() if main in names)
            assert compared[main] == sum(k.endswith("/" + family) for k in built), \
                (kind, compared, built)
            for name, how in published.items():
                same_table = before[name][0] == after[name][0]
                assert same_table == (how == "by difference"), (kind, name, how)
                assert how == "whole" or _kept_fids(before[name][1], after[name][1]), name
        _forget_published_rows(s)  # the full rebuild swaps every layer in whole
        rebuilt, all_built = _run(full=True)
        assert sorted(all_built) == sorted(every), kind  # --full builds everything
        assert incremental == rebuilt, f"{kind}: incremental differs from a full rebuild"
        assert incremental != first, f"{kind}: the delivery changed nothing published"
        assert expected(built, every), f"{kind}: rebuilt {sorted(built)}"
        first = rebuilt
    _later_moments()  # (the last run was a full one: every partition judged at AS_OF)



def _integrate(when: datetime, full: bool = False) -> tuple[dict[str, tuple[int, str]],
                                                           list[str]]:
    """An integration run judging response times at `when`, with no new drop."""
    from pipelines import runner
    from pipelines.runner.integration import LAST_RUN_COST, integrate_and_publish

    s = settings()
    wh = runner.warehouse(s)
    integrate_and_publish(s, wh, when, full=full)
    built = json.loads(wh.meta(LAST_RUN_COST) or "{}")["integrate"]["partitions"]
    digest = published_digest(wh)
    wh.engine.dispose()
    return digest, built


def _later_moments() -> None:
    """Response times are judged at the run's moment, but a work-order partition is built
    again only when that moment passes a deadline of one of its open orders (or goes back
    before one, in a replay): until then the published partition is what a build gives.
    After a full run at the tests' AS_OF."""
    from pipelines import integrate, runner

    wh = runner.warehouse(settings())
    inputs = integrate.load_inputs(wh)
    wh.engine.dispose()
    now = datetime.fromisoformat(AS_OF)
    judged = integrate.judged_alike(inputs, integrate.partitions(inputs), now)
    untils = {k: datetime.fromisoformat(u) for k, (_, u) in judged.items() if u}
    assert untils, "the sample has no order still open past the tests' as_of"
    first = min(untils.values())  # the next moment some result changes

    _, built = _integrate(first)  # later, but no deadline passed yet
    assert built == []
    later = first + timedelta(microseconds=1)
    incremental, built = _integrate(later)
    assert sorted(built) == sorted(k for k, u in untils.items() if u < later)
    assert incremental == _integrate(later, full=True)[0]

    # a replay at an earlier moment, after a full run at `later` (every partition judged
    # there): the partitions with an order whose result changes between the two moments
    at_later = integrate.judged_alike(inputs, integrate.partitions(inputs), later)
    afters = {k: datetime.fromisoformat(a) for k, (a, _) in at_later.items() if a}
    earlier = min(afters.values())
    incremental, built = _integrate(earlier)
    assert sorted(built) == sorted(k for k, a in afters.items() if a >= earlier)
    assert incremental == _integrate(earlier, full=True)[0]


# -- work orders reused row by row -----------------------------------------------------------
NEXT_DAY = "2026-11-17T12:00:00"  # a day after AS_OF: a few open orders' deadlines pass


def _orders_in_counties(sample: Path, out: Path) -> tuple[Path, str]:
    """20 new work orders in each of three counties, and one order of the first sent again
    (a new version: its satisfaction changed); the path and that order's id."""
    rows = pd.read_csv(sample / "complaints.csv", encoding="gbk", dtype=str,
                       keep_default_na=False)
    key = rows.columns[0]  # ＧＤＢＨ, the hotline's full-width header
    counties = rows["XZQDM"].value_counts().index[:3]
    new = pd.concat([rows[rows["XZQDM"] == c].head(20) for c in counties])
    new[key] = new[key].str[:-5] + "8" + new[key].str[-4:]
    again = rows[rows["XZQDM"] == counties[0]].iloc[[-1]].copy()
    again["MYD"] = "不满意" if again["MYD"].iloc[0] != "不满意" else "满意"
    path = out / "工单-多县.csv"
    pd.concat([new, again]).to_csv(path, index=False, encoding="gbk")
    return path, str(again[key].iloc[0])


def _enriched(cost: str) -> tuple[int, int]:
    """(rows enriched, rows taken over) by a run's integrate stage (its LAST_RUN_COST)."""
    stage = json.loads(cost)["integrate"]
    return int(stage["rows"]), int(stage["reused"])


def _published_orders() -> pd.DataFrame:
    from pipelines import runner

    wh = runner.warehouse(settings())
    frame = pd.DataFrame(wh.read_published("complaints_enriched"))
    wh.engine.dispose()
    frame = frame.drop(columns=["geom", "geometry", "fid"], errors="ignore")
    return frame.set_index("order_id").astype(object).where(lambda f: f.notna(), None)


def _last_cost() -> str:
    from pipelines import runner
    from pipelines.runner.integration import LAST_RUN_COST

    wh = runner.warehouse(settings())
    cost = wh.meta(LAST_RUN_COST) or "{}"
    wh.engine.dispose()
    return cost


def _registers_made(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each licence register made from here on (`Registers.of`, in this process: `_run`
    builds in it), by its licences' count."""
    from pipelines.integrate.registers import Registers

    made: list[int] = []
    make = Registers.of.__func__  # type: ignore[attr-defined]

    def counted(cls: type[Registers], licenses: pd.DataFrame) -> Registers:
        made.append(len(licenses))
        return make(cls, licenses)  # type: ignore[no-any-return]

    monkeypatch.setattr(Registers, "of", classmethod(counted))
    return made


def test_work_orders_are_enriched_only_where_they_changed(
        home: Path, sample_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A delivery across counties, judged a day later: only the new orders, the order sent
    again and the open orders whose deadline passed in between are enriched; every other row
    is taken over from the published run, and the result is a full rebuild's. A renamed
    business (the register) rebuilds every work-order part whole."""
    from pipelines import integrate, runner
    from pipelines.contracts import load_region
    from pipelines.integrate.workdays import ResponseRule, WorkCalendar, row_intervals

    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    _run()
    before = _published_orders()
    wh = runner.warehouse(s)
    orders = integrate.load_inputs(wh).complaints
    wh.engine.dispose()
    # the rows whose own interval at AS_OF does not hold a day later: judged again
    rule = ResponseRule.from_region(load_region().response_rule)
    after, until = row_intervals(orders[["pdsj", "sclxsj", "blyjsj", "bjsj"]],
                                 datetime.fromisoformat(AS_OF), rule, WorkCalendar())
    next_day = np.datetime64(datetime.fromisoformat(NEXT_DAY), "us")
    moved = orders["gdbh"][~((np.isnat(after) | (after < next_day))
                             & (np.isnat(until) | (next_day <= until)))]
    assert len(moved), "no open order falls due between the two moments"

    files = tmp_path / "deliveries"
    files.mkdir()
    path, resent = _orders_in_counties(sample_dir, files)
    drop_file(s, path, "complaints")
    monkeypatch.setenv("YITU_AS_OF", NEXT_DAY)
    made = _registers_made(monkeypatch)
    incremental, built = _run()
    assert made == []  # the licences did not change: the published run's register is taken
    enriched, reused = _enriched(_last_cost())
    now = _published_orders()
    assert not set(integrate.ROW_COLUMNS) & set(now.columns)  # staged, never published
    new = set(now.index) - set(before.index)  # (the sample's bad rows: quarantined)
    assert len(new) >= 50 and len(now) == len(before) + len(new)
    # the new, the one sent again, the ones re-judged (the resent one's old version is gone)
    assert enriched == len(new) + 1 + len(set(moved) - {resent}), sorted(built)
    assert reused > 0 and enriched + reused <= len(now)
    assert _families(built) == {"complaints"} and len(_codes(built)) >= 3
    assert now.loc[resent, "satisfaction"] != before.loc[resent, "satisfaction"]
    sla = ["contact_within_2h", "proposal_within_1wd", "solved_within_15wd"]
    changed = (now.loc[before.index, sla].map(repr) != before[sla].map(repr)).any(axis=1)
    assert set(before.index[changed]) <= set(moved) and changed.any()
    assert incremental == _run(full=True)[0]
    assert len(made) == 1  # a full rebuild makes everything again, the register too

    # a renamed business: every work order may name it, no row is taken over
    dataset, renamed = _licences(sample_dir, files)
    drop_file(s, renamed, dataset)
    made.clear()
    incremental, built = _run()
    assert len(made) == 1  # made again from the licences now
    enriched, reused = _enriched(_last_cost())
    assert reused == 0 and enriched >= len(now)
    assert incremental == _run(full=True)[0]


def test_a_new_setup_alone_rebuilds_no_partition(home: Path, sample_dir: Path,
                                                 tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to the warehouse's setup alone (an index: `runner.SETUP_FORMAT`) sets the
    warehouse up again on its next run, and the partitions are still the published run's
    unless their inputs changed: what they were built under is the contracts
    (`contracts_digest`), which did not. At 1x a setup change rebuilt the whole province
    (2 min 14 s) for an index. A licence delivery after it (every input read and printed)
    rebuilds the licence and work-order parts, no farmland."""
    from pipelines import runner
    from pipelines.runner.integration import store

    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    _run()
    before = runner.setup_digest()
    monkeypatch.setattr(runner, "SETUP_FORMAT", runner.SETUP_FORMAT + "-next")
    wh = runner.warehouse(s)  # set up again, for the new format
    assert wh.meta("setup") == runner.setup_digest() != before
    run = runner.plan_run(wh, "after-setup", staging=store(s, wh))
    assert run.build == () and run.partitions == ()
    dataset, path = _licences(sample_dir, tmp_path)
    drop_file(s, path, dataset)
    runner.ingest(s, wh=wh)
    run = runner.plan_run(wh, "after-licences", staging=store(s, wh))
    assert _families(list(run.build)) == {"licences", "complaints"}, run.build
    wh.engine.dispose()


def test_the_assessment_waits_for_what_the_loads_changed(
        yitu_env: Path, postgis_url: str, sample_dir: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """On PostGIS `yitu run` records what its loads changed in a process beside the
    integration (`runner._complete_loaded`), and the county assessment reads it (the area
    each permanent-farmland delivery left). Made beside the build where the plan read part
    of the farmland, it waits for that process: with the process slowed down past the plan
    and the build, one county's parcels sent again still publish what a full rebuild
    publishes, the assessment included. (The reads ahead of the plan, told to start by the
    worker once it has parsed the file, are told: they never wait out their limit.)"""
    import time as clock

    from pipelines import runner
    from tests.digests import published_digest

    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    _run()
    dataset, path = _pbf(sample_dir, tmp_path)
    drop_file(s, path, dataset)
    real = runner._complete_loaded

    def late(s: Settings) -> None:
        clock.sleep(8)  # past the plan and the build of the sample's county
        real(s)

    monkeypatch.setattr(runner, "_complete_loaded", late)
    caplog.set_level(logging.INFO, logger="pipelines.runner.inputs_cache")
    incremental, built = _run()
    assert "reading licenses, complaints ahead of the plan" in caplog.text
    assert "not told to start" not in caplog.text
    assert _farmland_read() == "part" and built  # the assessment was made beside the build
    monkeypatch.setattr(runner, "_complete_loaded", real)
    wh = runner.warehouse(s)
    with wh.engine.connect() as conn:
        areas = conn.execute(text(
            "SELECT count(*) FROM dq.farmland_pbf_changes c JOIN audit.drops d USING "
            "(drop_id) WHERE d.file = :f"), {"f": path.name}).scalar()
    wh.engine.dispose()
    assert areas, "the resend's changes were not recorded"
    _forget_published_rows(s)
    rebuilt, _ = _run(full=True)
    assert incremental["county_assessment"] == rebuilt["county_assessment"]
    assert incremental == rebuilt
    wh = runner.warehouse(s)
    assert published_digest(wh) == rebuilt
    wh.engine.dispose()
