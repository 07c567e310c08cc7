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
