"""A run's staged partitions read for some columns only (`read_partitions(columns=...)`), as
publish reads the layers it leaves in place: on both stores, the named frames come back with
those columns, as the whole read gives them, and no geometry; the others whole."""

from __future__ import annotations

import pandas as pd

from pipelines.warehouse.staging import StagingStore
from tests.integration.test_staging import frame, same, store  # noqa: F401  (the fixture)


def test_named_frames_are_read_for_their_columns_only(store: StagingStore) -> None:  # noqa: F811
    parts = {"a/farmland": {"farmland_base_map": frame(5, "a"), "farmland_conflicts": frame(3)},
             "b/farmland": {"farmland_base_map": frame(4, "b"), "farmland_conflicts": frame(0)}}
    for key, layers in parts.items():
        store.write_partition("run1", key, layers)
    whole = store.read_partitions("run1")
    projected = store.read_partitions("run1", {"farmland_base_map": ("kind", "n", "when"),
                                               "farmland_conflicts": ()})
    assert len(projected) == len(whole) == 2
    for got, full, written in zip(projected, whole, parts.values(), strict=True):
        same(full, written)
        base = got["farmland_base_map"]
        assert list(base.columns) == ["kind", "n", "when"]
        pd.testing.assert_frame_equal(pd.DataFrame(base),
                                      pd.DataFrame(full["farmland_base_map"])[["kind", "n",
                                                                               "when"]])
        assert list(got["farmland_conflicts"].columns) == []
        assert len(got["farmland_conflicts"]) == len(written["farmland_conflicts"])
    # a frame not named is read whole
    only = store.read_partitions("run1", {"farmland_conflicts": ("n",)})
    same({"farmland_base_map": only[0]["farmland_base_map"]},
         {"farmland_base_map": parts["a/farmland"]["farmland_base_map"]})


def test_named_frames_only_are_read(store: StagingStore) -> None:  # noqa: F811
    """Publish reads one layer at a time: the frames named, from every partition holding
    them, as the whole read gives them; a partition holding none comes back empty."""
    parts = {"a/farmland": {"farmland_base_map": frame(5, "a"), "farmland_conflicts": frame(3)},
             "a/licences": {"licenses_on_farmland": frame(2, "a")},
             "b/farmland": {"farmland_base_map": frame(4, "b"), "farmland_conflicts": frame(0)}}
    for key, layers in parts.items():
        store.write_partition("run1", key, layers)
    whole = store.read_partitions("run1")
    only = store.read_partitions("run1", frames=["farmland_conflicts"])
    assert [sorted(p) for p in only] == [["farmland_conflicts"], [], ["farmland_conflicts"]]
    for got, full in zip(only, whole, strict=True):
        if got:
            same(got, {"farmland_conflicts": full["farmland_conflicts"]})
    projected = store.read_partitions("run1", {"farmland_base_map": ("n",)},
                                      frames=["farmland_base_map"])
    assert [list(p) for p in projected] == [["farmland_base_map"], [], ["farmland_base_map"]]
    assert list(projected[0]["farmland_base_map"].columns) == ["n"]


def test_some_partitions_are_read_by_key(store: StagingStore) -> None:  # noqa: F811
    """What the views read of the partitions a run takes over is read beside its build
    (`partitions_by_key(keys=...)`): those keys only, in key order, as the whole read gives
    them; a key the run does not have is left out."""
    parts = {"b/farmland": {"farmland_base_map": frame(4, "b")},
             "a/licences": {"licenses_on_farmland": frame(2, "a")},
             "a/farmland": {"farmland_base_map": frame(5, "a"), "farmland_conflicts": frame(3)}}
    for key, layers in parts.items():
        store.write_partition("run1", key, layers)
    whole = store.partitions_by_key("run1")
    assert list(whole) == ["a/farmland", "a/licences", "b/farmland"]
    for key, got in whole.items():
        same(got, parts[key])
    some = store.partitions_by_key("run1", {"farmland_base_map": ("n",)},
                                   keys={"b/farmland", "a/farmland", "c/farmland"})
    assert list(some) == ["a/farmland", "b/farmland"]
    assert list(some["a/farmland"]["farmland_base_map"].columns) == ["n"]
    pd.testing.assert_frame_equal(pd.DataFrame(some["b/farmland"]["farmland_base_map"]),
                                  pd.DataFrame(whole["b/farmland"]["farmland_base_map"])[["n"]])
    same({"farmland_conflicts": some["a/farmland"]["farmland_conflicts"]},
         {"farmland_conflicts": parts["a/farmland"]["farmland_conflicts"]})
    assert store.partitions_by_key("run1", keys=set()) == {}
