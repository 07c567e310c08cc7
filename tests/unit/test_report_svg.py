"""The inline SVG charts and map previews are well-formed XML with one element per datum."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import geopandas as gpd
import shapely

from pipelines.contracts import load_layer
from pipelines.report.charts import Stack, line_chart, stacked_bars
from pipelines.report.maps import MAX_FEATURES, layer_map

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return root


def test_stacked_bars_draw_one_rect_per_stack_and_delivery() -> None:
    root = _parse(stacked_bars("每期记录数 <&>", ["11-01", "11-02", "11-03"],
                               [Stack("入库", "#0a0", [10, 20, 0]),
                                Stack("隔离", "#a00", [1, 0, 5])]))
    bars = root.findall(f"{SVG}rect[@class='bar']")
    assert len(bars) == 6
    assert max(float(b.get("height", 0)) for b in bars) > 0
    assert root.get("aria-label") == "每期记录数 <&>"  # escaped on the way in, intact out


def test_line_chart_skips_unknown_rates() -> None:
    root = _parse(line_chart("合格率", ["a", "b", "c", "d"], [0.9, None, 1.0, 0.5]))
    assert len(root.findall(f"{SVG}circle")) == 3
    assert len(root.findall(f"{SVG}polyline")) == 1
    single = _parse(line_chart("合格率", ["a"], [0.97]))
    assert len(single.findall(f"{SVG}circle")) == 1
    assert not single.findall(f"{SVG}polyline")


def test_every_chart_says_which_colour_is_which_series() -> None:
    bars = _parse(stacked_bars("每期记录数", ["a", "b"], [Stack("入库", "#0a0", [1, 2]),
                                                        Stack("隔离", "#a00", [0, 1])]))
    legend = bars.find(f"{SVG}g[@class='legend']")
    assert legend is not None
    assert [t.text for t in legend.findall(f"{SVG}text")] == ["入库", "隔离"]
    assert [r.get("fill") for r in legend.findall(f"{SVG}rect")] == ["#0a0", "#a00"]
    line = _parse(line_chart("合格率", ["a", "b"], [0.5, 0.9], series="合格率"))
    assert [t.text for t in line.iter(f"{SVG}text") if t.get("class") == "legend-label"] \
        == ["合格率"]


def _squares(n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"class": ["pbf_only", "hsf_only"] * (n // 2), "area_m2": [float(i) for i in range(n)]},
        geometry=[shapely.box(110 + i * 0.01, 19, 110.005 + i * 0.01, 19.005) for i in range(n)],
        crs="EPSG:4490")


def test_polygons_are_paths_filled_by_class() -> None:
    m = layer_map("farmland_base_map", _squares(10))
    root = _parse(m.svg)
    paths = root.findall(f"{SVG}path[@class='feature']")
    assert (len(paths), m.drawn, m.total, m.column) == (10, 10, 10, "class")
    assert {p.get("fill") for p in paths} == {colour for _, colour in m.legend}
    assert [label for label, _ in m.legend] == ["hsf_only", "pbf_only"]


def test_points_are_dots_and_empty_geometries_are_left_out() -> None:
    gdf = gpd.GeoDataFrame({"licenses": [1, 2, 3]},
                           geometry=[shapely.Point(110, 19), None, shapely.Point(110.5, 19.5)],
                           crs="EPSG:4490")
    m = layer_map("enterprise_profile", gdf)
    root = _parse(m.svg)
    assert len(root.findall(f"{SVG}circle[@class='feature']")) == 2
    assert (m.drawn, m.total, m.column) == (2, 3, None)


def test_large_layers_are_sampled_to_the_feature_limit() -> None:
    m = layer_map("big", _squares(MAX_FEATURES * 2 + 2))
    assert m.drawn <= MAX_FEATURES and m.total == MAX_FEATURES * 2 + 2
    assert len(_parse(m.svg).findall(f"{SVG}path")) == m.drawn


def test_numeric_values_are_coloured_on_a_ramp() -> None:
    gdf = _squares(10).drop(columns="class")
    m = layer_map("region_summary", gdf)
    assert m.column == "area_m2" and len(m.legend) == 5
    _parse(m.svg)


def test_one_value_everywhere_is_one_legend_entry() -> None:
    # a county summary before any farmland arrives: every area is 0, the ramp has one edge
    gdf = _squares(4).drop(columns="class").assign(area_m2=0.0)
    m = layer_map("region_summary", gdf)
    assert m.column == "area_m2" and [label for label, _ in m.legend] == ["0.0"]
    _parse(m.svg)


def test_a_layer_without_geometries_still_renders() -> None:
    gdf = gpd.GeoDataFrame({"a": ["x"]}, geometry=[None], crs="EPSG:4490")
    m = layer_map("empty", gdf)
    assert (m.drawn, m.total) == (0, 1)
    _parse(m.svg)


def _counties() -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.box(109.9, 18.9, 110.1, 19.1), shapely.box(110.1, 18.9,
                                                                            110.3, 19.1)],
                         crs="EPSG:4490")


def test_county_outlines_frame_the_map_and_the_contract_names_the_classes() -> None:
    layer = load_layer("farmland_base_map")
    m = layer_map("farmland_base_map", _squares(10), _counties(), layer)
    root = _parse(m.svg)
    outlines = root.findall(f"{SVG}path[@class='county']")
    assert len(outlines) == 2 and {o.get("fill") for o in outlines} == {"none"}
    # Chinese labels and colours from the layer contract, never the codes
    assert m.legend == [(c.label, c.colour) for c in layer.classes]
    fills = {p.get("fill") for p in root.findall(f"{SVG}path[@class='feature']")}
    assert fills == {layer.classes[1].colour, layer.classes[2].colour}  # pbf_only, hsf_only
    # the outlines come last, drawn over the features
    assert root[-1].get("class") == "county"


def test_a_layer_without_classes_is_coloured_by_its_flag_in_chinese() -> None:
    gdf = gpd.GeoDataFrame({"uscc": ["a", "b", "c"], "licenses": [1, 2, 3],
                            "on_pbf": [True, False, False]},
                           geometry=[shapely.Point(110, 19), shapely.Point(110.1, 19),
                                     shapely.Point(110.2, 19)], crs="EPSG:4490")
    m = layer_map("enterprise_profile", gdf, _counties(), load_layer("enterprise_profile"))
    assert m.column == "on_pbf"
    assert [label for label, _ in m.legend] == ["是", "否"]
    dots = _parse(m.svg).findall(f"{SVG}circle[@class='feature']")
    assert [d.get("fill") for d in dots].count(m.legend[0][1]) == 1
