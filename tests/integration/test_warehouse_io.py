"""The warehouses' Arrow and COPY paths on awkward values, their transactions, and publish's
lock timeout on PostGIS when an analyst leaves a transaction open on a published layer."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import pytest
import shapely
from psycopg import sql
from sqlalchemy import Connection, text

from pipelines.contracts import load_contract
from pipelines.warehouse import Warehouse, open_warehouse
from pipelines.warehouse.gpkg import GeoPackageWarehouse
from pipelines.warehouse.postgis import LOCK_TIMEOUT_ENV, PostgisWarehouse, PublishLockTimeout
from pipelines.warehouse.versions import Scope

LOADED_AT = datetime(2026, 11, 16, 4, 0, 0, 123000, tzinfo=UTC)
LATER, LATEST = LOADED_AT + timedelta(days=1, microseconds=456), LOADED_AT + timedelta(days=2)
AWKWARD = ["plain", 'quote " and, comma', "line\nbreak\r\n", "", "\\.", "a\n\\.\nb", "反斜杠\\N",
           None]


@pytest.fixture(params=["gpkg", "postgis"])
def wh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    url = (f"gpkg://{tmp_path}/warehouse.gpkg" if request.param == "gpkg"
           else request.getfixturevalue("postgis_url"))
    warehouse = open_warehouse(url)
    warehouse.ensure_ready()
    yield warehouse
    warehouse.engine.dispose()


def _orders(n: int, drop: str) -> gpd.GeoDataFrame:
    """Work orders as the reader hands them over, every awkward value in each text column."""
    text_values = [AWKWARD[i % len(AWKWARD)] for i in range(n)]
    frame = pd.DataFrame({
        "gdbh": [f"G{i}" for i in range(n)], "nrms": text_values, "sqdz": text_values[::-1],
        "slsj": pd.to_datetime(["2026-10-09 14:50:00.250"] * (n - 1) + [None]),
        "jd": [110.0, np.nan, np.inf, 0.1 + 0.2] * (n // 4) + [1.5] * (n % 4),
        "ldrzjhm_check_ok": pd.array([True, None, False] * (n // 3) + [True] * (n % 3),
                                     dtype="boolean"),
        "_drop_id": drop, "_source_file": "工单.csv", "_source_row": range(2, n + 2),
        "_flags": None})
    points = shapely.points(np.linspace(110, 110.1, n), np.full(n, 19.5))
    points[1] = None
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(points, crs=4490)).rename_geometry(
        "geom")


def _plain(values: pd.Series) -> list[object]:
    return [None if pd.isna(v) else v for v in values]


def _check_values(got: gpd.GeoDataFrame, sent: gpd.GeoDataFrame) -> None:
    got = got.set_index("gdbh").loc[sent["gdbh"]]
    for col in ("nrms", "sqdz"):
        assert _plain(got[col]) == _plain(sent[col]), col
    assert got["slsj"].iloc[0] == pd.Timestamp("2026-10-09 14:50:00.250")
    assert pd.isna(got["slsj"].iloc[-1])
    assert got["jd"].iloc[0] == 110.0 and pd.isna(got["jd"].iloc[1])
    assert got["jd"].iloc[2] == np.inf and got["jd"].iloc[3] == 0.1 + 0.2
    assert _plain(got["ldrzjhm_check_ok"])[:3] == [True, None, False]
    assert got.geometry.iloc[1] is None
    assert got.geometry.iloc[0].equals(sent.geometry.iloc[0])
    assert (got["_valid_from"] == pd.Timestamp(LOADED_AT).floor("ms")).all()


def test_load_read_round_trip(wh: Warehouse) -> None:
    contract = load_contract("complaints")
    sent = _orders(14, "d1")
    seen: list[int] = []

    def finalize(conn: Connection) -> None:  # in the load's transaction: the rows are there
        table = "core.complaints" if wh.url.startswith("postgres") else '"core__complaints"'
        seen.append(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())

    wh.load_core(contract, sent, "d1", LOADED_AT, finalize)
    assert seen == [14]
    current = wh.read_current(contract)
    assert len(current) == 14 and current.crs.to_epsg() == 4490
    _check_values(current, sent)
    # a rerun of the same drop replaces its rows; a new drop closes the keys it delivers
    wh.load_core(contract, sent, "d1", LOADED_AT, lambda conn: None)
    wh.load_core(contract, _orders(3, "d2"), "d2", LOADED_AT, lambda conn: None)
    assert len(wh.read_current(contract)) == 14
    before, after = wh.read_drop_rows(contract, "d2", ["gdbh", "_drop_id"])
    assert sorted(before["_drop_id"]) == ["d1"] * 3 and sorted(after["_drop_id"]) == ["d2"] * 3
    assert [len(f) for f in wh.read_drop_rows(contract, "nothing", ["gdbh"])] == [0, 0]


def test_reads_by_version_box_and_point(wh: Warehouse) -> None:
    """`read_versions` gives closed versions too; `read_current_within` the current rows in
    a box, of some versions, or under some points, each once, with the columns and types
    of a whole read."""
    contract = load_contract("complaints")
    wh.load_core(contract, _orders(14, "d1"), "d1", LOADED_AT, lambda conn: None)
    columns = ["gdbh", "slsj", "_drop_id"]
    first = wh.read_current_versions(contract, columns)
    wh.load_core(contract, _orders(3, "d2"), "d2", LOADED_AT, lambda conn: None)  # closes 3
    whole = wh.read_current_versions(contract, columns)
    old = first.loc[~first["_version_id"].isin(whole["_version_id"]), "_version_id"].tolist()
    assert len(old) == 3
    got = wh.read_versions(contract, ["gdbh"], [*old, 10_000])
    assert sorted(got["_version_id"]) == sorted(old) and list(got.columns) == [
        "_version_id", "gdbh", "geom"]
    assert set(got["gdbh"]) == {"G0", "G1", "G2"} and got.geometry.notna().any()
    assert wh.read_versions(contract, ["gdbh"], []).empty

    by_gdbh = whole.set_index("gdbh")["_version_id"]
    # G0 (d2's), G3, G4 of d1's (d2's G1 has no point, its G2 lies at 110.1)
    box = (110.0 - 1e-9, 19.4, 110.0 + 0.1 / 13 * 4.5, 19.6)
    point = whole.loc[whole["gdbh"] == "G10", "geom"].to_numpy()
    picked = wh.read_current_within(contract, columns, [box], [int(by_gdbh["G12"]),
                                                               int(by_gdbh["G0"])], point)
    assert sorted(picked["gdbh"]) == ["G0", "G10", "G12", "G3", "G4"]
    assert picked["_version_id"].is_unique
    assert list(picked.columns) == list(whole.columns)
    assert picked.dtypes.astype(str).tolist() == whole.dtypes.astype(str).tolist()
    assert wh.read_current_within(contract, columns).empty


def test_postgis_load_is_one_transaction_with_finalize(postgis_url: str) -> None:
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    contract = load_contract("complaints")

    def fail(conn: Connection) -> None:
        raise RuntimeError("ledger write failed")

    with pytest.raises(RuntimeError, match="ledger write failed"):
        wh.load_core(contract, _orders(8, "d1"), "d1", LOADED_AT, fail)
    assert len(wh.read_current(contract)) == 0
    wh.engine.dispose()


def _layer(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "name": [f"主体{i}" for i in range(n)], "empty_text": pd.Series([None] * n, dtype=object),
        "count": pd.array(range(n), dtype="Int64"), "when": pd.Series([pd.NaT] * n,
                                                                      dtype="datetime64[ms]"),
        "flag": pd.array([True, None] * (n // 2) + [False] * (n % 2), dtype="boolean"),
    }, geometry=gpd.GeoSeries(shapely.points(np.arange(n) * 0.01 + 110, 19.5), crs=4490)
    ).rename_geometry("geom")


def test_publish_types_come_from_dtypes(wh: Warehouse) -> None:
    labels = {"layer_a": {"": "图层甲", "name": "名称", "flag": "标记"}}
    wh.publish({"layer_a": _layer(5)}, labels)
    back = wh.read_published("layer_a")
    assert len(back) == 5 and _plain(back["flag"]) == [True, None, True, None, False]
    if isinstance(wh, PostgisWarehouse):
        with wh.engine.connect() as conn:
            types = dict(conn.execute(text(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'publish' AND table_name = 'layer_a'")).all())
            comment = conn.execute(text("SELECT col_description('publish.layer_a'::regclass, "
                                        "1)")).scalar()
        assert types == {"name": "text", "empty_text": "text", "count": "bigint",
                         "when": "timestamp without time zone", "flag": "boolean",
                         "geom": "USER-DEFINED", "fid": "bigint"}
        assert comment == "名称"
    else:
        assert isinstance(wh, GeoPackageWarehouse)
        with sqlite3.connect(wh.publish_path) as conn:
            ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'layer_a'").fetchone()
            aliases = dict(conn.execute("SELECT column_name, name FROM gpkg_data_columns "
                                        "WHERE table_name = 'layer_a'").fetchall())
            nulls = conn.execute("SELECT count(*) FROM layer_a WHERE flag IS NULL").fetchone()
        conn.close()
        assert '"flag" BOOLEAN' in ddl[0] and nulls == (2,)
        assert aliases == {"name": "名称", "flag": "标记"}


def test_publish_gives_up_on_a_layer_an_analyst_holds(postgis_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    wh.publish({"layer_a": _layer(4)}, {})
    monkeypatch.setenv(LOCK_TIMEOUT_ENV, "2")
    dsn = postgis_url.replace("postgresql+psycopg://", "postgresql://")
    # every row differs: swapped in whole, under an exclusive lock (a layer published by
    # difference takes none: tests/integration/test_publish_difference.py)
    new = _layer(6).assign(name=lambda f: f["name"] + "（新）")
    with psycopg.connect(dsn, application_name="qgis-analyst") as analyst:
        analyst.execute("SELECT * FROM publish.layer_a LIMIT 1").fetchall()  # idle in transaction
        started = time.monotonic()
        with pytest.raises(PublishLockTimeout) as raised:
            wh.publish({"layer_a": new}, {})
        waited = time.monotonic() - started
        message = str(raised.value)
        assert waited < 2 + 10, waited  # the timeout, plus staging the layer
        assert "layer_a" in message and "publish.layer_a" in message
        assert f"pid {analyst.info.backend_pid}" in message and "qgis-analyst" in message
        assert "idle in transaction" in message and "SELECT" not in message
        assert len(wh.read_published("layer_a")) == 4  # the old layer, untouched
        analyst.commit()
    wh.publish({"layer_a": new}, {})
    assert len(wh.read_published("layer_a")) == 6
    wh.engine.dispose()


def test_arrow_reads_give_what_copy_gives(postgis_url: str) -> None:
    """`PostgisWarehouse._read` reads through ADBC (`pgcopy.read_arrow`) and must hand back
    the frame COPY's text would (`pgcopy.copy_out`): every awkward text, nulls, small
    integers widened, reals, dates, times with and without zone, booleans, null geometry, no
    rows at all; a numeric column (COPY reads it as text) goes through COPY."""
    from psycopg import sql

    from pipelines.warehouse.pgcopy import copy_out
    from pipelines.warehouse.postgis import _driver

    wh = open_warehouse(postgis_url)
    assert isinstance(wh, PostgisWarehouse)
    wh.ensure_ready()
    wh.load_core(load_contract("complaints"), _orders(14, "d1"), "d1", LOADED_AT,
                 lambda conn: None)
    extra = ("1::int2 AS i2, 2::int4 AS i4, 1.5::float4 AS f4, DATE '2026-02-28' AS d, "
             "TIMESTAMPTZ '2026-11-16 12:00:00+08' AS tz")
    queries = [
        sql.SQL("SELECT *, " + extra + " FROM core.complaints"),
        sql.SQL("SELECT * FROM core.complaints WHERE _drop_id = %(d)s"),
        sql.SQL("SELECT 2.50::numeric AS amount, geom FROM core.complaints"),
    ]
    for query, params in zip(queries, [None, {"d": "nothing"}, None], strict=True):
        with wh.engine.connect() as conn:
            expected = copy_out(_driver(conn), query, params)
        got = wh._read(query, params)
        pd.testing.assert_frame_equal(got.drop(columns="geom"), expected.drop(columns="geom"))
        assert list(got.columns) == list(expected.columns)
        assert got.crs == expected.crs
        assert [None if g is None else g.wkb for g in got.geometry] == \
            [None if g is None else g.wkb for g in expected.geometry]
    assert wh._read(queries[0])["i2"].dtype == "int64"
    wh.engine.dispose()


def test_the_spatial_index_holds_current_rows_and_the_reads_use_it(postgis_url: str) -> None:
    """Each core table's spatial index holds its current rows only (closing a version adds
    no entry to it), the spatial reads go through it, and a warehouse set up with the
    whole-table index before has it replaced on setup."""
    wh = open_warehouse(postgis_url)
    wh.ensure_ready()
    contract = load_contract("complaints")

    def indexes() -> dict[str, str]:
        with wh.engine.connect() as conn:
            return dict(conn.execute(text(  # type: ignore[arg-type]
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'core' "
                "AND tablename = 'complaints' AND indexdef LIKE '%gist%'")).all())

    assert list(indexes()) == ["complaints_geom_current"]
    assert indexes()["complaints_geom_current"].endswith("WHERE (_valid_to IS NULL)")

    wh.load_core(contract, _orders(14, "d1"), "d1", LOADED_AT, lambda conn: None)
    wh.load_core(contract, _orders(3, "d2"), "d2", LOADED_AT, lambda conn: None)  # closes 3
    current = wh.read_current_versions(contract, ["gdbh"])
    point = current.loc[current["gdbh"] == "G10", "geom"].to_numpy()
    with wh.engine.begin() as conn:  # every new connection: an index, wherever it may serve
        conn.execute(text(f"ALTER DATABASE {postgis_url.rsplit('/', 1)[1]} "
                          "SET enable_seqscan = off"))
    wh.engine.dispose()

    def scans(at_least: int) -> int:
        """The index's scans, once they reach `at_least` (a backend's statistics reach the
        others when it flushes them: the reads' sessions are closed, `adbc_pool`, so that
        they do) or after 10 s."""
        from pipelines.warehouse import adbc_pool

        adbc_pool.close_idle()
        found = 0
        for _ in range(50):
            with wh.engine.connect() as conn:
                found = conn.execute(text(
                    "SELECT idx_scan FROM pg_stat_user_indexes "
                    "WHERE indexrelname = 'complaints_geom_current'")).scalar_one()
            if found >= at_least:
                break
            time.sleep(0.2)
        return int(found)

    time.sleep(1)
    before = scans(0)
    assert list(wh.read_current_at(contract, ["gdbh"], point)["gdbh"]) == ["G10"]
    assert scans(before + 1) == before + 1  # through the partial index
    box = (110.0 - 1e-9, 19.4, 110.0 + 0.1 / 13 * 4.5, 19.6)
    assert sorted(wh.read_current_within(contract, ["gdbh"], [box], [], point)["gdbh"]) == [
        "G0", "G10", "G3", "G4"]
    assert scans(before + 3) == before + 3  # the box and the point, through it too

    with wh.engine.begin() as conn:  # as a warehouse set up before it was partial
        conn.execute(text("DROP INDEX core.complaints_geom_current"))
        conn.execute(text("CREATE INDEX complaints_geom_gist ON core.complaints USING gist (geom)"))
    wh.ensure_ready()
    assert list(indexes()) == ["complaints_geom_current"]
    wh.engine.dispose()


def _plan_nodes(node: dict[str, object]) -> Iterator[dict[str, object]]:
    """Every node of an `EXPLAIN (FORMAT JSON)` plan."""
    yield node
    for child in node.get("Plans", []):  # type: ignore[attr-defined]
        yield from _plan_nodes(child)


def test_what_a_drop_changed_is_read_through_indexes(wh: Warehouse) -> None:
    """`read_drop_rows` gives the versions a drop closed and the rows it stated; on PostGIS
    through the indexes on `_drop_id`, `_closed_by` and the scope's current rows, never a
    scan of every version the table keeps (which grows with the history)."""
    contract = load_contract("farmland_pbf")
    counties = [f"4601{i:02d}" for i in range(20)]
    wh.load_core(contract, _parcels(counties, "d1", 50), "d1", LOADED_AT, lambda conn: None)
    wh.load_core(contract, _parcels(["460106"], "d2", 40), "d2", LATER, lambda conn: None)
    scope = Scope("xzqdm", ("460106",))
    before, after = wh.read_drop_rows(contract, "d2", ["yjjbnttbbh", "xzqdm", "_drop_id"],
                                      scope, LATER)
    assert sorted(zip(before["xzqdm"], before["_drop_id"], strict=True)) == [("460106", "d1")] * 50
    assert sorted(zip(after["xzqdm"], after["_drop_id"], strict=True)) == [("460106", "d2")] * 40
    if not isinstance(wh, PostgisWarehouse):
        return
    kinds, used = _index_plan(wh, wh.drop_versions_sql(contract, ["yjjbnttbbh", "_drop_id"],
                                                       scope),
                              {"d": "d2", "s": ["460106"], "t": LATER})
    assert "Seq Scan" not in kinds
    assert {"farmland_pbf_drop", "farmland_pbf_closed_by", "farmland_pbf_xzqdm_current"} <= used


def test_a_snapshot_keeps_the_rows_it_states_unchanged(wh: Warehouse) -> None:
    """A county's parcels sent again write only the rows that differ and close those they
    replace; the others stay current under the version that first stated them, and are
    still read as the resend's rows (and as the first drop's). Sent again unchanged, a
    county writes nothing; a drop loaded twice leaves what it left once."""
    contract = load_contract("farmland_pbf")
    first = _parcels(["460105", "460106"], "d1", 5)
    assert wh.load_core(contract, first, "d1", LOADED_AT, lambda conn: None) == {
        "written": 10, "closed": 0, "kept": 0}
    resend = first[first["xzqdm"] == "460106"].copy().assign(_drop_id="d2")
    resend.loc[resend.index[0], "gddb"] = 7  # corrected
    resend = resend.drop(index=resend.index[1])  # gone
    new = resend.iloc[:1].assign(yjjbnttbbh="460106-9")
    new["geom"] = new.geometry.translate(0.01, 0)
    resend = pd.concat([resend, new], ignore_index=True)
    for _ in range(2):  # the second time: the same drop again, undone and done again
        assert wh.load_core(contract, resend, "d2", LATER, lambda conn: None) == {
            "written": 2, "closed": 2, "kept": 3}
    current = wh.read_current_versions(contract, ["yjjbnttbbh", "xzqdm", "_drop_id"])
    assert sorted(zip(current["xzqdm"], current["_drop_id"], strict=True)) == sorted(
        [("460105", "d1")] * 5 + [("460106", "d1")] * 3 + [("460106", "d2")] * 2)
    scope = Scope("xzqdm", ("460106",))
    columns = ["yjjbnttbbh", "gddb"]
    before, after = wh.read_drop_rows(contract, "d2", columns, scope, LATER)
    assert sorted(after["yjjbnttbbh"]) == sorted(resend["yjjbnttbbh"])
    assert sorted(before["yjjbnttbbh"]) == [f"460106-{i}" for i in range(5)]
    assert after.set_index("yjjbnttbbh").loc["460106-0", "gddb"] == 7

    again = resend.assign(_drop_id="d3", _source_row=range(9, 9 + len(resend)))
    assert wh.load_core(contract, again, "d3", LATEST, lambda conn: None) == {
        "written": 0, "closed": 0, "kept": 5}
    # d4 corrects one of the rows d2 kept: d2's rows are still those current at its load
    d4 = again.assign(_drop_id="d4")
    d4.loc[d4["yjjbnttbbh"] == "460106-2", "gddb"] = 1
    assert wh.load_core(contract, d4, "d4", LATEST + timedelta(hours=1),
                        lambda conn: None)["written"] == 1
    for drop, at in (("d2", LATER), ("d3", LATEST)):
        _, after = wh.read_drop_rows(contract, drop, columns, scope, at)
        assert sorted(after["yjjbnttbbh"]) == sorted(resend["yjjbnttbbh"]), drop
    first_rows = wh.read_drop_rows(contract, "d1", columns, Scope("xzqdm", ("460105", "460106")),
                                   LOADED_AT)[1]
    assert sorted(first_rows["yjjbnttbbh"]) == sorted(first["yjjbnttbbh"])


def test_what_drops_changed_since_is_read_through_indexes(wh: Warehouse) -> None:
    """`read_changed` gives the current rows some drops added and the versions they closed:
    with the rows current before them, every row current after; on PostGIS through the
    indexes on `_drop_id` and `_closed_by`."""
    contract = load_contract("farmland_pbf")
    counties = [f"4601{i:02d}" for i in range(20)]
    wh.load_core(contract, _parcels(counties, "d1", 50), "d1", LOADED_AT, lambda conn: None)
    before = wh.read_current_versions(contract, ["xzqdm"])
    wh.load_core(contract, _parcels(["460106"], "d2", 40), "d2", LOADED_AT, lambda conn: None)
    wh.load_core(contract, _parcels(["460107"], "d3", 30), "d3", LOADED_AT, lambda conn: None)
    moved = _parcels(["460107"], "d4", 20)  # (each of them moved: none is d3's kept)
    moved = moved.assign(geom=moved.geometry.translate(0.001, 0))
    wh.load_core(contract, moved, "d4", LOADED_AT, lambda conn: None)
    added, closed = wh.read_changed(contract, ["xzqdm", "_drop_id"], ["d2", "d3", "d4"])
    assert list(added.columns) == ["_version_id", "xzqdm", "_drop_id", "geom"]
    # d3's rows were closed by d4: not current, so not among the added
    assert sorted(zip(added["xzqdm"], added["_drop_id"], strict=True)) == sorted(
        [("460106", "d2")] * 40 + [("460107", "d4")] * 20)
    assert added.geometry.notna().all()
    ids = before["_version_id"].to_numpy()
    gone = closed["_version_id"].to_numpy()
    now = np.union1d(np.setdiff1d(ids, gone), added["_version_id"].to_numpy())
    assert now.tolist() == sorted(wh.read_current_versions(contract, [])["_version_id"])
    assert len(gone) == 50 + 50 + 30  # d1's two counties, d3's own rows
    assert list(closed.columns) == ["_version_id", "geom"]
    shapes = wh.read_versions(contract, [], gone.tolist())  # where they lay, as read by id
    assert closed.sort_values("_version_id").geometry.to_wkb().tolist() == shapes.sort_values(
        "_version_id").geometry.to_wkb().tolist()
    mine = before["xzqdm"].eq("460106").to_numpy()
    assert sorted(wh.read_changed(contract, ["xzqdm"], ["d2"])[1]["_version_id"]) == sorted(
        ids[mine])
    if not isinstance(wh, PostgisWarehouse):
        return
    for query, index in zip(wh.changed_sql(contract, ["xzqdm"]),
                            ("farmland_pbf_drop", "farmland_pbf_closed_by"), strict=True):
        kinds, used = _index_plan(wh, query, {"d": ["d2", "d3"]})
        assert "Seq Scan" not in kinds
        assert index in used


def _index_plan(wh: PostgisWarehouse, query: sql.Composed, params: dict[str, object]
                ) -> tuple[set[str], set[str]]:
    """The node kinds and index names of the plan of `query`, sequential scans turned off
    (an index path, if there is one)."""
    with wh.engine.begin() as conn:
        driver = conn.connection.driver_connection
        assert driver is not None
        conn.execute(text("ANALYZE core.farmland_pbf"))
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = driver.execute(sql.SQL("EXPLAIN (FORMAT JSON) ") + query, params).fetchone()[0]
    nodes = list(_plan_nodes(plan[0]["Plan"]))
    return ({str(n.get("Node Type")) for n in nodes},
            {str(n.get("Index Name")) for n in nodes if n.get("Index Name")})


def _parcels(counties: list[str], drop: str, each: int = 3) -> gpd.GeoDataFrame:
    """One county's snapshot of parcels per code, `each` parcels each."""
    codes = [c for c in counties for _ in range(each)]
    squares = [shapely.multipolygons([shapely.box(110 + i / 1e4, 19.5, 110.00005 + i / 1e4,
                                                  19.50005)]) for i in range(len(codes))]
    frame = pd.DataFrame({"yjjbnttbbh": [f"{c}-{i % each}" for i, c in enumerate(codes)],
                          "xzqdm": codes, "_drop_id": drop, "_source_file": "图斑.zip",
                          "_source_row": range(1, len(codes) + 1), "_flags": None})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(squares, crs=4490)).rename_geometry(
        "geom")


def test_a_county_snapshot_closes_that_county_only(wh: Warehouse) -> None:
    """A snapshot by county replaces the current rows of the counties it covers and no
    other's; on PostGIS those rows are found through the index on the county column (one
    array of the drop's counties, not a scan of every current row)."""
    contract = load_contract("farmland_pbf")
    counties = [f"4601{i:02d}" for i in range(20)]
    wh.load_core(contract, _parcels(counties, "d1", 50), "d1", LOADED_AT, lambda conn: None)
    wh.load_core(contract, _parcels(["460106"], "d2", 40), "d2", LATER, lambda conn: None)
    current = wh.read_current_versions(contract, ["xzqdm", "_drop_id"])
    assert sorted(zip(current["xzqdm"], current["_drop_id"], strict=True)) == sorted(
        [(c, "d1") for c in counties if c != "460106" for _ in range(50)] +
        [("460106", "d2")] * 40)
    if not isinstance(wh, PostgisWarehouse):
        return
    kinds, used = _index_plan(wh, wh.scope_sql(contract, Scope("xzqdm", ("460106",))),
                              {"s": ["460106"]})
    assert "Seq Scan" not in kinds and "farmland_pbf_xzqdm_current" in used


def test_arrow_reads_reuse_their_connection_and_hold_nothing_between(
        postgis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`adbc_pool`: a read takes the connection the last one gave back (one server session
    for both), in autocommit, so between reads it holds no transaction and no lock (a publish
    could take the table); a read that fails closes its connection; one idle too long is
    not reused; one the server has closed since is replaced and the read made again; none is
    inherited across a fork, and the parent's goes on working after the child has exited."""
    import os

    from pipelines.warehouse import adbc_pool

    wh = open_warehouse(postgis_url)
    assert isinstance(wh, PostgisWarehouse)
    wh.ensure_ready()
    adbc_pool.close_idle()
    query = sql.SQL("SELECT pg_backend_pid() AS pid, NULL::geometry AS geom")

    def backend() -> int:
        return int(wh._read(query)["pid"].iloc[0])

    first = backend()
    assert backend() == first  # the same session
    with wh.engine.connect() as conn:
        open_ones = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = :p "
            "AND state <> 'idle'"), {"p": first}).scalar()
        assert open_ones == 0  # idle, not "idle in transaction"
        conn.execute(text("SET lock_timeout = '2s'"))
        conn.execute(text("LOCK TABLE core.complaints IN ACCESS EXCLUSIVE MODE"))
        conn.rollback()
    with pytest.raises(Exception, match="no_such_table"):  # on `first`'s connection
        wh._read(sql.SQL("SELECT * FROM no_such_table"))
    second = backend()
    assert second != first  # `first`'s session was closed with its failure, not kept
    monkeypatch.setattr(adbc_pool, "IDLE_SECONDS", 0.0)
    time.sleep(0.01)
    third = backend()
    assert third != second
    monkeypatch.setattr(adbc_pool, "IDLE_SECONDS", 30.0)
    assert backend() == third
    pid = os.fork()  # the pool is emptied first: the child opens its own
    if pid == 0:  # pragma: no cover (the child)
        code = 0 if not adbc_pool._idle and backend() != third else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    fourth = backend()
    assert fourth != third  # closed before the fork
    assert backend() == fourth
    with wh.engine.connect() as conn:  # (a restart of the server, say)
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": fourth}).scalar()
    time.sleep(0.2)
    fifth = backend()
    assert fifth != fourth
    with wh.engine.connect() as conn:
        alive = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE pid IN "
                                  "(:a, :b, :c, :d)"), {"a": first, "b": second, "c": third,
                                                       "d": fourth}).all()
    assert alive == []
    adbc_pool.close_idle()
    wh.engine.dispose()
