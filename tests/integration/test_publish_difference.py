"""Publish by difference on PostGIS (pipelines/publish/difference.py): a published layer
changes only in the rows that differ, in the publish transaction, with the hash record beside
it; unchanged rows keep their fid; a reader's snapshot sees the old layer whole; a crash
leaves the old layer and its record; without a usable record, the layer is swapped in whole.
Small frames published straight through the warehouse: the whole pipeline's incremental runs
are in test_incremental.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from sqlalchemy import create_engine, text

from pipelines.warehouse.base import Parted
from pipelines.warehouse.postgis import PostgisWarehouse

ROOT = Path(__file__).resolve().parents[2]
LAYER = "difference_points"  # no contract: publish takes any frame, styles only contracts'


def points(n: int, start: int = 0, repeat: int = 0) -> gpd.GeoDataFrame:
    """n rows numbered from `start`, and `repeat` copies of the first (identical rows)."""
    ids = list(range(start, start + n)) + [start] * repeat
    return gpd.GeoDataFrame({"code": [f"p{i}" for i in ids],
                             "area": [i / 4 for i in ids],
                             "note": [None if i % 3 else "None" for i in ids]},
                            geometry=[shapely.Point(110 + i / 1000, 20) for i in ids],
                            crs=4490).rename_geometry("geom")


def _warehouse(url: str) -> PostgisWarehouse:
    wh = PostgisWarehouse(url)
    wh.ensure_ready()
    return wh


def _rows(wh: PostgisWarehouse, layer: str = LAYER) -> Counter[tuple[object, ...]]:
    """The published layer's rows (fid left out) as a multiset."""
    return _rows_of(wh.read_published(layer))


def _fids(wh: PostgisWarehouse, layer: str = LAYER) -> dict[str, list[int]]:
    frame = wh.read_published(layer)
    return {str(code): sorted(int(f) for f in group["fid"])
            for code, group in frame.groupby("code")}


def _oid(wh: PostgisWarehouse, layer: str = LAYER) -> int:
    with wh.engine.connect() as conn:
        return int(conn.execute(text("SELECT to_regclass(:t)::oid::bigint"),
                                {"t": f"publish.{layer}"}).scalar_one())


def _record_matches(wh: PostgisWarehouse, frame: gpd.GeoDataFrame) -> bool:
    """The hash record describes the table as `frame`: same fids, same hashes by fid."""
    from pipelines.publish.difference import row_hashes

    with wh.engine.connect() as conn:
        recorded = conn.execute(text("SELECT fid, h1, h2 FROM audit.published_rows "
                                     "WHERE layer = :l"), {"l": LAYER}).all()
        count = conn.execute(text(f"SELECT count(*) FROM publish.{LAYER}")).scalar_one()
    published = wh.read_published(LAYER).sort_values("fid")
    hashes = row_hashes(published.drop(columns="fid"))
    by_fid = {int(f): (int(h[0]), int(h[1])) for f, h in zip(published["fid"], hashes,
                                                              strict=True)}
    return count == len(frame) and by_fid == {int(f): (int(a), int(b)) for f, a, b in recorded}


def test_equal_rows_stay_with_their_fid_and_only_the_difference_changes(postgis_url: str) -> None:
    wh = _warehouse(postgis_url)
    first = points(100, repeat=2)
    wh.publish({LAYER: first}, {})
    assert wh.published_by == {LAYER: "whole"}  # nothing recorded yet
    oid, fids = _oid(wh), _fids(wh)

    # 10 rows gone (p0..p9, one of the three identical p0 kept), 10 new, one more copy of p50
    second = pd.concat([points(90, start=10), points(10, start=500), points(1, start=50),
                        points(1)], ignore_index=True)
    wh.publish({LAYER: second}, {})
    assert wh.published_by == {LAYER: "difference: 11 inserted, 11 deleted, 91 kept"}
    assert _oid(wh) == oid  # the same table: its view, comments, grants and indexes stay
    assert _rows(wh) == _rows_of(second)
    after = _fids(wh)
    for code in (f"p{i}" for i in range(10, 100)):
        assert after[code][0] == fids[code][0], code  # a QGIS selection survives
    assert min(after["p500"]) > max(f for fs in fids.values() for f in fs)  # from the sequence
    assert len(after["p0"]) == 1 and after["p0"][0] in fids["p0"]
    assert _record_matches(wh, second)

    wh.publish({LAYER: second}, {})  # the same again: nothing changes
    assert wh.published_by == {LAYER: "difference: 0 inserted, 0 deleted, 102 kept"}
    assert _fids(wh) == after
    wh.engine.dispose()


def _rows_of(frame: gpd.GeoDataFrame) -> Counter[tuple[object, ...]]:
    """A frame's rows as a multiset."""
    return Counter((r.code, r.area, None if pd.isna(r.note) else r.note, r.geom.wkb_hex)
                   for r in frame.itertuples())


def test_equals_a_whole_swap(postgis_url: str) -> None:
    """The layer published by difference holds what publishing it whole gives."""
    wh = _warehouse(postgis_url)
    wh.publish({LAYER: points(200)}, {})
    new = pd.concat([points(150, start=30), points(40, start=900)], ignore_index=True)
    wh.publish({LAYER: new}, {})
    assert wh.published_by[LAYER].startswith("difference")
    by_difference = _rows(wh)
    with wh.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit.published_layers"))
    wh.publish({LAYER: new}, {})
    assert wh.published_by == {LAYER: "whole"}
    assert by_difference == _rows(wh)
    wh.engine.dispose()


def test_without_a_usable_record_the_layer_is_swapped_in_whole(postgis_url: str) -> None:
    wh = _warehouse(postgis_url)
    wh.publish({LAYER: points(50)}, {})
    oid = _oid(wh)

    with wh.engine.begin() as conn:  # the record lost
        conn.execute(text("DELETE FROM audit.published_layers WHERE layer = :l"), {"l": LAYER})
    wh.publish({LAYER: points(50)}, {})
    assert wh.published_by == {LAYER: "whole"} and _oid(wh) != oid
    assert _record_matches(wh, points(50))

    with wh.engine.begin() as conn:  # a row the record does not know of
        conn.execute(text(f"DELETE FROM publish.{LAYER} WHERE fid = 1"))
    wh.publish({LAYER: points(50)}, {})
    assert wh.published_by == {LAYER: "whole"}
    assert _rows(wh) == _rows_of(points(50))

    wider = points(50).assign(extra=1.5)  # a column more
    wh.publish({LAYER: wider}, {})
    assert wh.published_by == {LAYER: "whole"}
    assert "extra" in wh.read_published(LAYER).columns

    labels = {LAYER: {"": "点", "code": "编码"}}  # a new label: a new comment
    wh.publish({LAYER: wider}, labels)
    assert wh.published_by == {LAYER: "whole"}
    with wh.engine.connect() as conn:
        assert conn.execute(text(f"SELECT col_description('publish.{LAYER}'::regclass, 1)")
                            ).scalar_one() == "编码"
    wh.publish({LAYER: wider}, labels)
    assert wh.published_by[LAYER].startswith("difference")

    wh.publish({LAYER: points(50, start=1000).assign(extra=1.5)}, {})  # every row differs
    assert wh.published_by == {LAYER: "whole"}
    assert _record_matches(wh, points(50))
    wh.engine.dispose()


def test_a_reader_sees_the_old_layer_until_it_ends_its_transaction(postgis_url: str) -> None:
    """No exclusive lock: a reader holding the layer in REPEATABLE READ does not hold the
    publish up (a whole swap would wait for it), and keeps seeing the old rows whole."""
    wh = _warehouse(postgis_url)
    old = points(100)
    wh.publish({LAYER: old}, {})
    reader = create_engine(postgis_url)
    new = pd.concat([points(95, start=5), points(5, start=700)], ignore_index=True)
    with reader.connect().execution_options(isolation_level="REPEATABLE READ") as conn, \
            conn.begin():
        def seen() -> Counter[tuple[object, ...]]:
            frame = conn.execute(text(f"SELECT code, area, note, ST_AsBinary(geom) AS g "
                                      f"FROM publish.{LAYER}")).all()
            return Counter((c, a, n, bytes(g).hex()) for c, a, n, g in frame)

        before = seen()
        os.environ["YITU_PUBLISH_LOCK_TIMEOUT_S"] = "2"  # a whole swap would give up here
        try:
            wh.publish({LAYER: new}, {})
        finally:
            del os.environ["YITU_PUBLISH_LOCK_TIMEOUT_S"]
        assert wh.published_by[LAYER].startswith("difference")
        assert seen() == before == _upper(_rows_of(old))
    with reader.connect() as conn:
        after = Counter((c, a, n, bytes(g).hex()) for c, a, n, g in conn.execute(text(
            f"SELECT code, area, note, ST_AsBinary(geom) FROM publish.{LAYER}")).all())
    assert after == _upper(_rows_of(new))
    reader.dispose()
    wh.engine.dispose()


def _upper(rows: Counter[tuple[object, ...]]) -> Counter[tuple[object, ...]]:
    """shapely's WKB hex is upper case, bytes.hex() lower."""
    return Counter({(c, a, n, str(g).lower()): k for (c, a, n, g), k in rows.items()})


CRASHING_PUBLISH = """
import sys
from pipelines.warehouse.base import Parted
from pipelines.warehouse.postgis import PostgisWarehouse
from tests.integration.test_publish_difference import LAYER, points
import pandas as pd
wh = PostgisWarehouse(sys.argv[1])
wh.publish({LAYER: pd.concat([points(90, start=10), points(10, start=800)],
                            ignore_index=True)}, {})
"""


@pytest.mark.parametrize("point", ["publish.before_commit"])
def test_a_crash_inside_a_difference_publish_leaves_the_old_layer_and_record(
        postgis_url: str, point: str) -> None:
    wh = _warehouse(postgis_url)
    old = points(100)
    wh.publish({LAYER: old}, {})
    env = {**os.environ, "YITU_FAILPOINT": point}
    done = subprocess.run([sys.executable, "-c", CRASHING_PUBLISH, postgis_url], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert _rows(wh) == _rows_of(old)
    assert _record_matches(wh, old)
    env.pop("YITU_FAILPOINT")
    done = subprocess.run([sys.executable, "-c", CRASHING_PUBLISH, postgis_url], env=env,
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    new = pd.concat([points(90, start=10), points(10, start=800)], ignore_index=True)
    assert _rows(wh) == _rows_of(new)
    assert _record_matches(wh, new)
    wh.engine.dispose()


def _parted(frames: dict[str, gpd.GeoDataFrame], built_by: dict[str, str],
            reads: list[str]) -> Parted:
    """A layer of `frames` by part, noting in `reads` every part read."""
    def read(part: str) -> gpd.GeoDataFrame:
        reads.append(part)
        return frames[part]

    parts = tuple(frames)
    return Parted(parts, read, tuple(built_by[p] for p in parts), geometry="Point")


def test_a_parted_layer_compares_only_parts_built_by_another_run(postgis_url: str) -> None:
    """A part published as built by the run that built the one given is not even read; the
    others are compared as a layer given whole is, a part gone takes its rows with it, a new
    part brings its own; the result equals publishing every part whole."""
    wh = _warehouse(postgis_url)
    a, b, c = points(40), points(30, start=100), points(20, start=200)
    reads: list[str] = []
    wh.publish({LAYER: _parted({"a": a, "b": b, "c": c}, dict.fromkeys("abc", "r1"), reads)}, {})
    assert wh.published_by == {LAYER: "whole"} and reads == ["a", "b", "c"]
    oid, fids = _oid(wh), _fids(wh)

    # r2 built b again (5 rows changed) and d (new); c is gone; a is as r1 built it
    b2 = pd.concat([points(25, start=105), points(5, start=900)], ignore_index=True)
    d = points(10, start=300)
    reads.clear()
    wh.publish({LAYER: _parted({"a": a, "b": b2, "d": d},
                               {"a": "r1", "b": "r2", "d": "r2"}, reads)}, {})
    assert reads == ["b", "d"]  # a never read: published as r1 built it
    assert wh.published_by == {LAYER: "difference: 15 inserted, 25 deleted, 65 kept"}
    assert _oid(wh) == oid
    expected = pd.concat([a, b2, d], ignore_index=True)
    assert _rows(wh) == _rows_of(expected)
    after = _fids(wh)
    assert all(after[code] == fids[code] for code in a["code"])
    with wh.engine.connect() as conn:
        parts = dict(conn.execute(text("SELECT part, count(*) FROM audit.published_rows "
                                       "WHERE layer = :l GROUP BY part"), {"l": LAYER}).all())
        runs = conn.execute(text("SELECT part_runs FROM audit.published_layers "
                                 "WHERE layer = :l"), {"l": LAYER}).scalar_one()
    assert parts == {"a": 40, "b": 30, "d": 10}
    assert runs == {"a": "r1", "b": "r2", "d": "r2"}

    # the same parts given whole (no builder known): every part compared, nothing changes
    reads.clear()
    wh.publish({LAYER: _parted({"a": a, "b": b2, "d": d}, dict.fromkeys("abd", ""), reads)}, {})
    assert reads == ["a", "b", "d"]
    assert wh.published_by == {LAYER: "difference: 0 inserted, 0 deleted, 80 kept"}
    with wh.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit.published_layers"))
    wh.publish({LAYER: _parted({"a": a, "b": b2, "d": d}, dict.fromkeys("abd", ""), reads)}, {})
    assert wh.published_by == {LAYER: "whole"} and _rows(wh) == _rows_of(expected)
    wh.engine.dispose()


def test_a_layer_made_by_a_function_is_made_after_the_parted_ones_changed(
        postgis_url: str) -> None:
    """A layer given as a function may be in the making aside (publish_run's views): it is
    made last, after every parted layer has been read and its difference applied in the
    publish transaction (its table's rows locked by the publishing session), whatever the
    order the layers were given in."""
    wh = _warehouse(postgis_url)
    view = "difference_view"
    reads: list[str] = []
    wh.publish({view: points(3), LAYER: _parted({"a": points(40)}, {"a": "r1"}, reads)}, {})

    def locked_by_publish() -> bool:  # on another connection: the publish's row locks
        with wh.engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT EXISTS (SELECT FROM pg_locks WHERE relation = to_regclass(:t) "
                "AND mode = 'RowExclusiveLock' AND granted AND pid <> pg_backend_pid())"),
                {"t": f"publish.{LAYER}"}).scalar_one())

    def made() -> gpd.GeoDataFrame:
        reads.append("made")
        reads.append("changed" if locked_by_publish() else "unchanged")
        return points(4)

    reads.clear()
    wh.publish({view: made, LAYER: _parted({"a": points(38, start=2)}, {"a": "r2"}, reads)},
               {})
    assert reads == ["a", "made", "changed"]
    assert wh.published_by[LAYER] == "difference: 0 inserted, 2 deleted, 38 kept"
    assert len(wh.read_published(view)) == 4 and len(wh.read_published(LAYER)) == 38
    wh.engine.dispose()


def test_segments_of_a_group_are_compared_together(postgis_url: str) -> None:
    """Parts named "<group>@<segment>" (a county's work orders staged as segments): a
    segment kept is not read; rows of a segment gone that come back in a new segment of the
    same group keep their fid and are recorded under the new one; a row that moves to
    another group is deleted and inserted as before."""
    wh = _warehouse(postgis_url)
    d1, d2, other = points(40), points(30, start=100), points(20, start=500)
    first = {"k@r1": d1, "k@r2": d2, "m@r1": other}
    reads: list[str] = []
    wh.publish({LAYER: _parted(first, {"k@r1": "r1", "k@r2": "r2", "m@r1": "r1"}, reads)}, {})
    fids = _fids(wh)

    # r3: d1 kept; d2 rewritten with 10 rows of its own (d2's first 5 gone) and 5 new; one
    # row of m comes into k's new segment, and m's segment is rewritten without it
    merged = pd.concat([d2.iloc[5:], points(5, start=900), other.iloc[:1]], ignore_index=True)
    now = {"k@r1": d1, "k@r3": merged, "m@r3": other.iloc[1:]}
    reads.clear()
    wh.publish({LAYER: _parted(now, {"k@r1": "r1", "k@r3": "r3", "m@r3": "r3"}, reads)}, {})
    assert reads == ["k@r3", "m@r3"]
    assert wh.published_by == {LAYER: "difference: 6 inserted, 6 deleted, 84 kept "
                                      "(44 of them moved to another part)"}
    after = _fids(wh)
    assert all(after[code] == fids[code] for code in [*d1["code"], *d2["code"][5:],
                                                       *other["code"][1:]])
    assert after["p500"] != fids["p500"]  # moved to another group: inserted again
    assert _rows(wh) == _rows_of(pd.concat(list(now.values()), ignore_index=True))
    with wh.engine.connect() as conn:
        parts = dict(conn.execute(text("SELECT part, count(*) FROM audit.published_rows "
                                       "WHERE layer = :l GROUP BY part"), {"l": LAYER}).all())
    assert parts == {"k@r1": 40, "k@r3": 31, "m@r3": 19}
    assert wh.count_published(LAYER) == 90  # (as recorded, and as counted without a record)
    with wh.engine.begin() as conn:
        conn.execute(text("UPDATE audit.published_layers SET relation = 0 WHERE layer = :l"),
                     {"l": LAYER})
    assert wh.count_published(LAYER) == 90
    with wh.engine.begin() as conn:
        conn.execute(text("UPDATE audit.published_layers SET relation = to_regclass(:t) "
                          "WHERE layer = :l"), {"l": LAYER, "t": f"publish.{LAYER}"})
    assert _record_matches(wh, pd.concat(list(now.values()), ignore_index=True))
    # as recorded: published again, no part compared (the first read for its columns only)
    reads.clear()
    wh.publish({LAYER: _parted(now, {"k@r1": "r1", "k@r3": "r3", "m@r3": "r3"}, reads)}, {})
    assert reads == ["k@r1"] and wh.published_by == {LAYER: "difference: 0 inserted, 0 deleted, "
                                                       "90 kept"}
    wh.engine.dispose()


def test_parts_of_one_layer_must_have_the_same_columns(postgis_url: str) -> None:
    wh = _warehouse(postgis_url)
    reads: list[str] = []
    wider = points(5, start=50).assign(extra=1)
    with pytest.raises(ValueError, match="part 'b' has columns"):
        wh.publish({LAYER: _parted({"a": points(5), "b": wider}, dict.fromkeys("ab", "r"),
                                   reads)}, {})
    wh.engine.dispose()


def test_a_record_kept_before_parts_is_replaced_whole(postgis_url: str) -> None:
    """A warehouse recorded before parts (no part column, no rows per part) gets them from
    `ensure_ready`; its layers are swapped in whole once, then published by difference."""
    wh = _warehouse(postgis_url)
    wh.publish({LAYER: points(30)}, {})
    with wh.engine.begin() as conn:  # the record as it was kept before parts
        conn.execute(text("DROP INDEX audit.published_rows_layer_part"))
        conn.execute(text("ALTER TABLE audit.published_rows DROP COLUMN part"))
        conn.execute(text("ALTER TABLE audit.published_layers DROP COLUMN part_rows, "
                          "DROP COLUMN part_runs"))
    wh.ensure_ready()
    wh.publish({LAYER: points(30)}, {})
    assert wh.published_by == {LAYER: "whole"}
    wh.publish({LAYER: points(31)}, {})
    assert wh.published_by == {LAYER: "difference: 1 inserted, 0 deleted, 30 kept"}
    assert _record_matches(wh, points(31))
    wh.engine.dispose()
