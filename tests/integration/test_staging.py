"""The staging store an integration run's tasks hand each other frames through: the same
promises on both back ends (the warehouse's `staging` schema on a real PostGIS, a folder beside
the embedded GeoPackage), and on PostGIS, that only the loader may use it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import create_engine, text

from pipelines.warehouse import open_warehouse
from pipelines.warehouse import staging as staging_module
from pipelines.warehouse.staging import FolderStaging, PostgisStaging, StagingStore, staging_store


def frame(n: int, tag: str = "a") -> gpd.GeoDataFrame:
    """Awkward dtypes on purpose: nullable integers, text with a null, a tab and a backslash,
    a timestamp with a time zone, a category, a boolean with a null; the geometry named geom,
    in EPSG:4490."""
    return gpd.GeoDataFrame({
        "n": pd.array(range(n), dtype="Int64"),
        "name": [f"{tag}{i}\t\\ 名" if i % 3 else None for i in range(n)],
        "when": pd.date_range("2026-11-16", periods=n, freq="h", tz="Asia/Shanghai"),
        "kind": pd.Categorical(["pbf_only", "hsf_only"] * (n // 2) + ["pbf_only"] * (n % 2))
        if n else pd.Series([], dtype=object),  # (Parquet keeps no categories of no rows)
        "flag": pd.array([True, None, False][: n] + [True] * max(0, n - 3), dtype="boolean"),
    }, geometry=[shapely.box(110 + i / 1000, 19, 110.0005 + i / 1000, 19.0005) for i in range(n)],
        crs=4490).rename_geometry("geom")


def layers(tag: str) -> dict[str, gpd.GeoDataFrame]:
    return {"farmland_base_map": frame(5, tag), "complaints_enriched": frame(0, tag)}


def same(a: dict[str, gpd.GeoDataFrame] | None, b: dict[str, gpd.GeoDataFrame]) -> None:
    assert a is not None
    assert sorted(a) == sorted(b)
    for name in b:
        assert a[name].geometry.name == "geom" and a[name].crs.to_epsg() == 4490
        pd.testing.assert_frame_equal(pd.DataFrame(a[name]), pd.DataFrame(b[name]))


@pytest.fixture(params=["folder", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StagingStore]:
    if request.param == "folder":
        yield staging_store(open_warehouse(f"gpkg:///{tmp_path / 'w.gpkg'}"), tmp_path / "st")
        return
    wh = open_warehouse(request.getfixturevalue("postgis_url"))
    wh.ensure_ready()
    yield staging_store(wh, tmp_path / "unused")
    wh.engine.dispose()


def test_the_store_follows_the_warehouse(postgis_url: str, tmp_path: Path) -> None:
    gpkg = open_warehouse(f"gpkg:///{tmp_path / 'w.gpkg'}")
    assert isinstance(staging_store(gpkg, tmp_path / "st"), FolderStaging)
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    store = staging_store(wh, tmp_path / "unused")
    assert isinstance(store, PostgisStaging)
    store.save_inputs("r1", layers("i"))
    assert store.read_inputs("r1") is not None
    assert not (tmp_path / "unused").exists()  # nothing on this machine's disk
    wh.engine.dispose()


def test_frames_come_back_as_written(store: StagingStore) -> None:
    store.save_inputs("r1", {"counties": frame(3, "c")})
    store.write_partition("r1", "460105", layers("x"))
    store.write_partition("r1", "460105/farmland", {"farmland_base_map": frame(2, "f")})
    store.write_partition("r1", "unlocated", {})  # a partition with no layers is still one
    same(store.read_inputs("r1"), {"counties": frame(3, "c")})
    same(store.read("r1", "460105"), layers("x"))
    same(store.read("r1", "460105/farmland"), {"farmland_base_map": frame(2, "f")})
    assert store.read("r1", "unlocated") == {}
    assert store.read("r1", "460106") is None and store.read_inputs("r2") is None
    assert store.parts("r1") == ["460105", "460105/farmland", "unlocated"]  # inputs aside
    parts = store.read_partitions("r1")
    assert len(parts) == 3
    same(parts[0], layers("x"))
    with pytest.raises(ValueError):
        store.write_partition("r1", ".inputs", layers("x"))


def test_a_partition_written_twice_is_there_once(store: StagingStore) -> None:
    store.write_partition("r1", "460105", layers("first"))
    store.write_partition("r1", "460106", layers("other"))
    store.write_partition("r1", "460105", {"farmland_base_map": frame(7, "second")})
    assert store.parts("r1") == ["460105", "460106"]
    same(store.read("r1", "460105"), {"farmland_base_map": frame(7, "second")})
    same(store.read("r1", "460106"), layers("other"))  # nothing else changed

    # Two copies of the same task at once (a retry racing its original): one whole copy.
    errors: list[BaseException] = []

    def write(tag: str) -> None:
        try:
            for _ in range(3):
                store.write_partition("r1", "460107", layers(tag))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in ("p", "q")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    got = store.read("r1", "460107")
    assert got is not None
    tag = str(got["farmland_base_map"]["name"].dropna().iloc[0])[0]
    same(got, layers(tag))
    assert store.parts("r1") == ["460105", "460106", "460107"]


def test_two_runs_are_apart_and_publishing_one_drops_the_other(store: StagingStore) -> None:
    store.save_inputs("r1", {"counties": frame(3, "c")})
    store.write_partition("r1", "460105", layers("one"))
    store.write_partition("r2", "460105", layers("two"))
    same(store.read("r1", "460105"), layers("one"))
    same(store.read("r2", "460105"), layers("two"))
    assert store.read_inputs("r2") is None
    assert store.published() is None

    store.mark_published("r1")
    assert store.published() == "r1"
    assert store.parts("r2") == []  # an older or other run's parts go once a run publishes
    same(store.read("r1", "460105"), layers("one"))
    store.mark_published("r1")  # publishing the same run again: the same
    assert store.published() == "r1" and store.parts("r1") == ["460105"]


def test_a_run_adopts_the_published_runs_partitions(store: StagingStore) -> None:
    for code in ("460105", "460106", "460107"):
        store.write_partition("r1", code, layers(code))
    store.mark_published("r1")
    store.write_partition("r2", "460106", layers("new"))  # a one-county run
    store.adopt("r2", "r1", ["460105", "460106", "460107", "460108"])
    assert store.parts("r2") == ["460105", "460106", "460107"]  # 460108 was never staged
    same(store.read("r2", "460106"), layers("new"))  # its own partition is kept
    same(store.read("r2", "460105"), layers("460105"))
    store.mark_published("r2")
    assert store.parts("r1") == [] and store.published() == "r2"
    same(store.read("r2", "460107"), layers("460107"))  # whole after the source is gone


def test_a_part_carries_frames_of_another_runs_part_as_they_are(
        store: StagingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging_module, "PIECE_BYTES", 1000)  # a carried frame of many pieces
    day1 = {"complaints_enriched@r1": frame(400, "d1"), "complaints_enriched@r0": frame(3, "d0")}
    store.write_partition("r1", "460105/complaints", day1)
    store.write_partition("r1", "460106/complaints", {"complaints_enriched@r1": frame(2, "x")})
    assert store.frame_names("r1") == {
        "460105/complaints": ["complaints_enriched@r0", "complaints_enriched@r1"],
        "460106/complaints": ["complaints_enriched@r1"]}
    # the next run writes its own segment and carries one of r1's; a frame r1 lacks, and
    # the other part's, are not carried
    store.write_partition("r2", "460105/complaints", {"complaints_enriched@r2": frame(1, "d2")},
                          staging_module.Carry("r1", ("complaints_enriched@r1", "nothing")))
    assert store.frame_names("r2", "460105/complaints") == {
        "460105/complaints": ["complaints_enriched@r1", "complaints_enriched@r2"]}
    same(store.read("r2", "460105/complaints"), {"complaints_enriched@r1": day1[
        "complaints_enriched@r1"], "complaints_enriched@r2": frame(1, "d2")})
    # written again (a retry): whole, never the carried frames twice
    store.write_partition("r2", "460105/complaints", {},
                          staging_module.Carry("r1", ("complaints_enriched@r0",)))
    same(store.read("r2", "460105/complaints"), {"complaints_enriched@r0": frame(3, "d0")})
    store.mark_published("r2")  # r1 dropped: what r2 carried is its own
    same(store.read("r2", "460105/complaints"), {"complaints_enriched@r0": frame(3, "d0")})
    with pytest.raises(ValueError, match="itself"):
        store.write_partition("r2", "460105/complaints", {}, staging_module.Carry("r2", ("a",)))
    assert store.frame_names("r9") == {}


def test_large_frames_are_stored_in_pieces(store: StagingStore,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging_module, "PIECE_BYTES", 1000)
    big = {"complaints_enriched": frame(400, "big")}
    store.write_partition("r1", "460105", big)
    same(store.read("r1", "460105"), big)
    if isinstance(store, PostgisStaging):
        with store.wh.engine.connect() as conn:
            pieces = conn.execute(text("SELECT count(*) FROM staging.blobs")).scalar_one()
        assert pieces > 5


def test_only_the_loader_may_use_staging(postgis_url: str) -> None:
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    PostgisStaging(wh).write_partition("r1", "460105", layers("x"))
    engine = create_engine(postgis_url)
    try:
        with engine.connect() as conn:
            persistence = conn.execute(text(
                "SELECT relname, relpersistence FROM pg_class WHERE relnamespace = "
                "'staging'::regnamespace AND relkind = 'r' ORDER BY 1")).all()
            assert [tuple(r) for r in persistence] == [("blobs", "u"), ("frames", "u"),
                                                       ("parts", "u")]
        for role in ("yitu_analyst", "yitu_monitor"):
            with engine.connect() as conn:
                conn.execute(text(f"SET ROLE {role}"))
                assert conn.execute(text(  # the layers they are for, yes
                    "SELECT has_schema_privilege('publish', 'USAGE')")).scalar_one()
                assert not conn.execute(text(
                    "SELECT has_schema_privilege('staging', 'USAGE')")).scalar_one()
                with pytest.raises(Exception, match="permission denied for schema staging"):
                    conn.execute(text("SELECT count(*) FROM staging.frames"))
        with engine.connect() as conn:
            conn.execute(text("SET ROLE yitu_loader"))
            assert conn.execute(text("SELECT count(*) FROM staging.parts")).scalar_one() == 1
    finally:
        engine.dispose()
        wh.engine.dispose()


def _bytes_staged(store: PostgisStaging) -> tuple[int, int]:
    """(pieces of bytes stored, their total size)."""
    with store.wh.engine.connect() as conn:
        n, size = conn.execute(text(
            "SELECT count(*), coalesce(sum(octet_length(data)), 0) FROM staging.blobs")).one()
    return int(n), int(size)


def test_adopting_and_carrying_name_the_bytes_never_copy_them(postgis_url: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A day's run takes the published run's untouched counties: on the server, their bytes
    are named again, not copied; publishing the run drops the bytes no frame names any more,
    and only those."""
    monkeypatch.setattr(staging_module, "PIECE_BYTES", 1000)  # frames of many pieces
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    store = PostgisStaging(wh)
    for code in ("460105", "460106", "460107"):
        store.write_partition("r1", code, {"farmland_base_map": frame(300, code)})
    store.write_partition("r1", "460105/complaints", {"c@r1": frame(200, "d1")})
    store.mark_published("r1")
    first = _bytes_staged(store)
    assert first[0] > 20

    store.write_partition("r2", "460106", {"farmland_base_map": frame(300, "new")})
    mine = _bytes_staged(store)
    assert mine[0] > first[0]
    store.write_partition("r2", "460105/complaints", {"c@r2": frame(5, "d2")},
                          staging_module.Carry("r1", ("c@r1",)))
    store.adopt("r2", "r1", ["460105", "460106", "460107"])
    after = _bytes_staged(store)
    # only r2's own segment was stored: nothing adopted or carried was copied
    assert after[1] == mine[1] + len(staging_module.encode(frame(5, "d2")))
    same(store.read("r2", "460105"), {"farmland_base_map": frame(300, "460105")})
    same(store.read("r2", "460105/complaints"), {"c@r1": frame(200, "d1"),
                                                 "c@r2": frame(5, "d2")})

    store.mark_published("r2")
    # r1's own 460106 is gone; what r2 adopted or carried from r1 stays
    gone = _bytes_staged(store)
    assert gone[0] < after[0]
    same(store.read("r2", "460107"), {"farmland_base_map": frame(300, "460107")})
    same(store.read("r2", "460105/complaints"), {"c@r1": frame(200, "d1"),
                                                 "c@r2": frame(5, "d2")})
    same(store.read("r2", "460106"), {"farmland_base_map": frame(300, "new")})
    with store.wh.engine.connect() as conn:
        named = conn.execute(text("SELECT count(DISTINCT blob) FROM staging.frames")).scalar()
        stored = conn.execute(text("SELECT count(DISTINCT blob) FROM staging.blobs")).scalar()
    assert named == stored == 5  # four parts, five frames: each named once, all stored
    store.write_partition("r2", "460107", {"farmland_base_map": frame(2, "again")})
    store.mark_published("r2")  # a part written again: its old bytes go when published
    with store.wh.engine.connect() as conn:
        stored = conn.execute(text("SELECT count(DISTINCT blob) FROM staging.blobs")).scalar()
    assert stored == 5
    wh.engine.dispose()


V1_STAGING = """
CREATE SCHEMA staging;
CREATE UNLOGGED TABLE staging.parts (run_id text NOT NULL, part text NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, part));
CREATE UNLOGGED TABLE staging.frames (run_id text NOT NULL, part text NOT NULL,
    frame text NOT NULL, piece integer NOT NULL, data bytea NOT NULL,
    PRIMARY KEY (run_id, part, frame, piece),
    FOREIGN KEY (run_id, part) REFERENCES staging.parts ON DELETE CASCADE);
"""


@pytest.mark.parametrize("first_use", ["store", "ensure_ready"])
def test_a_warehouse_staged_before_bytes_were_shared_keeps_its_parts(
        postgis_url: str, first_use: str) -> None:
    """A warehouse whose published run was staged with each frame's bytes in its own rows
    (the shape before staging.blobs): moved over on first use, every frame read back as
    written, whichever comes first, the store or `yitu`'s setup."""
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    written = {"460105": layers("a"), ".inputs": {"counties": frame(7, "c")}}
    with wh.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA staging CASCADE"))
        conn.exec_driver_sql(V1_STAGING)
        for part, frames in written.items():
            conn.execute(text("INSERT INTO staging.parts (run_id, part) VALUES ('r1', :p)"),
                         {"p": part})
            for name, f in frames.items():
                data = staging_module.encode(f)
                for piece, start in enumerate(range(0, len(data), 700)):  # in pieces
                    conn.execute(text("INSERT INTO staging.frames VALUES ('r1', :p, :f, :i, :d)"),
                                 {"p": part, "f": name, "i": piece, "d": data[start:start + 700]})
    if first_use == "ensure_ready":
        wh.ensure_ready()
    store = PostgisStaging(wh)
    for part, frames in written.items():
        same(store.read("r1", part), frames)
    assert store.parts("r1") == ["460105"]
    with wh.engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('staging.frames_v1')")).scalar() is None
    wh.engine.dispose()


def test_a_warehouse_set_up_before_staging_gets_it_on_first_use(postgis_url: str) -> None:
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    with wh.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA staging CASCADE"))
    store = PostgisStaging(wh)
    store.write_partition("r1", "460105", layers("x"))
    same(store.read("r1", "460105"), layers("x"))
    wh.engine.dispose()


def test_a_one_county_run_keeps_the_published_layers_whole(yitu_env: Path,
                                                            sample_dir: Path) -> None:
    """The runner on the folder store (the PostGIS store runs the same in test_airflow.py and
    test_celery.py): a one-county run before any full run is refused; after one, it publishes
    the same layers, again and again, and only its own run stays staged."""
    from pipelines import integrate, runner
    from pipelines.config import UsageError, settings
    from pipelines.landing.drops import drop_file
    from pipelines.orchestration import tasks
    from tests.digests import published_digest

    s = settings()
    for f in json.loads((sample_dir / "manifest.json").read_text("utf-8"))["files"]:
        drop_file(s, sample_dir / f["file"], f["dataset"])
    runner.ingest(s)
    wh = runner.warehouse(s)
    one = tasks.plan("one-0", "460106")
    assert [j["county"] for j in one] == ["460106"]
    tasks.integrate_county(one[0])
    with pytest.raises(UsageError, match="never integrated"):
        runner.publish_run(s, wh, runner.IntegrationRun.from_xcom(one[0]["run"]))

    jobs = tasks.plan("full-1")
    for job in jobs:
        tasks.integrate_county(job)
    tasks.publish(jobs)
    full = published_digest(wh)
    assert full["region_summary"][0] == 24

    one = tasks.plan("one-2", "460106")
    tasks.integrate_county(one[0])
    tasks.publish(one)
    assert published_digest(wh) == full
    store = staging_store(wh, s.staging)
    assert store.published() == "one-2"
    whole = sorted(integrate.part_keys(j["county"] for j in jobs))
    assert store.parts("one-2") == whole  # every county's every family
    assert sorted(p.name for p in s.staging.iterdir()) == ["one-2", "published.run"]
    tasks.publish(one)  # the same run published again: the same layers
    assert published_digest(wh) == full
