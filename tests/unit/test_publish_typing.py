"""Every layer typed by its contract as publish types it (`typed_frame`), and typed again:
the same values and the same row hashes. The views are typed and hashed beside the publish
(`runner.integration._made_views`), which types them again before it compares their rows
with those published by these hashes; a typing that changed anything the second time would
send unchanged rows again."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from pipelines.contracts import LayerContract, all_layers
from pipelines.publish.difference import row_hashes
from pipelines.publish.layers import typed_frame

LOOSE = {  # each kind as the builds may hand it over: objects, text, gaps
    "integer": [3, None, 7],
    "number": ["1.25", None, 2],
    "boolean": [True, None, False],
    "datetime": ["2026-11-16 08:30:00", None, "2026-11-17 09:00:00"],
    "date": ["2026-11-16", None, "2026-11-18"],
    "string": ["甲", None, ""],
}
SHAPES = {"Point": [shapely.Point(110, 19), shapely.Point(110.1, 19.1), shapely.Point(110.2, 19)],
          "MultiPolygon": [shapely.box(110, 19, 110.01, 19.01),  # a Polygon: promoted
                           shapely.MultiPolygon([shapely.box(110.1, 19, 110.11, 19.01)]),
                           shapely.box(110.2, 19, 110.21, 19.01)]}


@pytest.mark.parametrize("layer", all_layers(), ids=lambda c: c.layer)
def test_typing_a_typed_layer_changes_nothing(layer: LayerContract) -> None:
    loose = gpd.GeoDataFrame({c.name: pd.Series(LOOSE[c.type], dtype=object)
                              for c in reversed(layer.columns)},
                             geometry=SHAPES[layer.geometry], crs=4490)
    once = typed_frame(layer, loose)
    twice = typed_frame(layer, once)
    assert list(once.columns) == [*layer.column_names, "geom"]
    assert set(once.geometry.geom_type) == {layer.geometry}
    pd.testing.assert_frame_equal(pd.DataFrame(twice), pd.DataFrame(once))
    assert (row_hashes(twice) == row_hashes(once)).all()
    if layer.geometry == "MultiPolygon" or {c.type for c in layer.columns} - {"string"}:
        # (the first typing changed values, and the hashes see it)
        assert not (row_hashes(once) == row_hashes(loose.rename_geometry("geom"))).all()
