"""The QGIS styles are a pure function of the layer contracts: every field aliased in Chinese,
classes drawn and named as the contract says, labels where it asks for them."""

from __future__ import annotations

import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import Point

from pipelines.contracts import LayerContract, all_layers
from pipelines.publish.styles import FID_LABEL, layer_qml, rgba
from pipelines.warehouse.gpkg import write_labelled_layer

LAYERS = all_layers()


def _qml(layer: LayerContract) -> ET.Element:
    return ET.fromstring(layer_qml(layer).split("\n", 1)[1])


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.layer)
def test_every_field_has_its_chinese_alias(layer: LayerContract) -> None:
    aliases = {a.get("field"): a.get("name") for a in _qml(layer).iter("alias")}
    assert aliases == {"fid": FID_LABEL, **{c.name: c.label for c in layer.columns}}


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.layer)
def test_classes_are_drawn_in_the_contracts_colours(layer: LayerContract) -> None:
    root = _qml(layer)
    renderer = root.find("renderer-v2")
    assert renderer is not None
    if not layer.class_column:
        assert renderer.get("type") == "singleSymbol"
        assert root.find("fieldConfiguration/field") is None
        return
    assert (renderer.get("type"), renderer.get("attr")) == ("categorizedSymbol",
                                                            layer.class_column)
    categories = [(c.get("value"), c.get("label")) for c in renderer.iter("category")]
    assert categories == [(c.value, c.label) for c in layer.classes]
    colours = [s.find("layer/Option/Option[@name='color']") for s in renderer.iter("symbol")]
    assert [c.get("value", "")[:-4] for c in colours if c is not None] == \
        [rgba(c.colour)[:-4] for c in layer.classes]
    value_map = root.find(f"fieldConfiguration/field[@name='{layer.class_column}']/editWidget")
    assert value_map is not None and value_map.get("type") == "ValueMap"
    entries = {o.get("name"): o.get("value") for o in value_map.iter("Option")
               if o.get("type") == "QString"}
    assert entries == {c.label: c.value for c in layer.classes}


def test_symbols_follow_the_geometry() -> None:
    kinds = {c.geometry: {s.get("type") for s in _qml(c).iter("symbol")} for c in LAYERS}
    assert kinds == {"MultiPolygon": {"fill"}, "Point": {"marker"}}


def test_county_names_label_the_region_summary() -> None:
    region = next(c for c in LAYERS if c.layer == "region_summary")
    root = _qml(region)
    assert root.get("labelsEnabled") == "1"
    style = root.find("labeling/settings/text-style")
    assert style is not None and style.get("fieldName") == "county_name"
    unlabelled = [c for c in LAYERS if not c.label_column]
    assert unlabelled and all(_qml(c).find("labeling") is None for c in unlabelled)


def test_the_style_is_the_same_for_the_same_contract() -> None:
    assert [layer_qml(c) for c in LAYERS] == [layer_qml(c) for c in all_layers()]


def test_rgba_refuses_what_is_not_a_colour() -> None:
    assert rgba("#2e7d32") == "46,125,50,255"
    with pytest.raises(ValueError):
        rgba("green")


def test_a_written_geopackage_layer_has_its_default_style(tmp_path: Path) -> None:
    layer = next(c for c in LAYERS if c.geometry == "Point")
    gdf = gpd.GeoDataFrame({c: ["x"] for c in layer.column_names},
                           geometry=[Point(110.3, 20.0)], crs=4490)
    path = tmp_path / "one.gpkg"
    for _ in range(2):  # written again: still one default style
        write_labelled_layer(gdf, path, layer.layer, layer.labels())
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT f_table_name, f_geometry_column, useAsDefault, styleQML "
                            "FROM layer_styles").fetchall()
        registered = conn.execute("SELECT data_type FROM gpkg_contents "
                                  "WHERE table_name = 'layer_styles'").fetchall()
    conn.close()
    assert rows == [(layer.layer, "geom", 1, layer_qml(layer))]
    assert registered == [("attributes",)]
