"""QGIS styles (QML) of the published layers, from their contracts alone.

Stored as each layer's default style (GeoPackage and PostGIS `layer_styles`), so QGIS 3.x opens
a layer classed, labelled and aliased in Chinese whatever its GDAL: the GeoPackage schema
extension's aliases need GDAL 3.7+, a QML alias any QGIS 3.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pipelines.contracts import LayerContract

STYLE_NAME = "yitu"
# The primary key both warehouses add to a published table; QGIS lists it as a field.
FID_LABEL = "要素编号"
# Layers without classes: a light fill under a dark outline (county outlines stay readable
# over other layers), points in one blue.
PLAIN_FILL, PLAIN_OUTLINE, PLAIN_POINT = "#b0bec5", "#37474f", "#1565c0"
OUTLINE = "#424242"
FILL_OPACITY = "180"  # of 255: the layers under a class layer stay visible
PLAIN_FILL_OPACITY = "50"  # county-wide layers lie under everything else: mostly outline


def rgba(colour: str, alpha: str = "255") -> str:
    """'#2e7d32' -> '46,125,50,255', QGIS's colour notation."""
    value = colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour {colour!r} is not #rrggbb")
    return ",".join([*(str(int(value[i:i + 2], 16)) for i in (0, 2, 4)), alpha])


def _options(parent: ET.Element, props: dict[str, str]) -> None:
    """A symbol layer's properties, as QGIS 3.22 writes them (Option map) and as older 3.x
    read them (prop)."""
    option_map = ET.SubElement(parent, "Option", type="Map")
    for k, v in props.items():
        ET.SubElement(option_map, "Option", name=k, value=v, type="QString")
    for k, v in props.items():
        ET.SubElement(parent, "prop", k=k, v=v)


def _symbol(parent: ET.Element, name: str, geometry: str, colour: str, outline: str,
            opacity: str = FILL_OPACITY) -> None:
    if geometry == "Point":
        symbol = ET.SubElement(parent, "symbol", type="marker", name=name, alpha="1",
                               clip_to_extent="1", force_rhr="0")
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleMarker", "enabled": "1",
                                               "locked": "0", "pass": "0"})
        _options(layer, {"name": "circle", "color": rgba(colour), "size": "2.4",
                         "size_unit": "MM", "outline_color": rgba("#ffffff"),
                         "outline_style": "solid", "outline_width": "0.3",
                         "outline_width_unit": "MM"})
    else:
        symbol = ET.SubElement(parent, "symbol", type="fill", name=name, alpha="1",
                               clip_to_extent="1", force_rhr="0")
        layer = ET.SubElement(symbol, "layer", {"class": "SimpleFill", "enabled": "1",
                                               "locked": "0", "pass": "0"})
        _options(layer, {"color": rgba(colour, opacity), "style": "solid",
                         "outline_color": rgba(outline), "outline_style": "solid",
                         "outline_width": "0.3", "outline_width_unit": "MM",
                         "joinstyle": "bevel"})


def _renderer(root: ET.Element, layer: LayerContract) -> None:
    if layer.class_column:
        renderer = ET.SubElement(root, "renderer-v2", type="categorizedSymbol",
                                 attr=layer.class_column, symbollevels="0", forceraster="0",
                                 enableorderby="0")
        categories = ET.SubElement(renderer, "categories")
        symbols = ET.SubElement(renderer, "symbols")
        for i, c in enumerate(layer.classes):
            ET.SubElement(categories, "category", render="true", symbol=str(i), value=c.value,
                          label=c.label)
            _symbol(symbols, str(i), layer.geometry, c.colour, OUTLINE)
        return
    renderer = ET.SubElement(root, "renderer-v2", type="singleSymbol", symbollevels="0",
                             forceraster="0", enableorderby="0")
    symbols = ET.SubElement(renderer, "symbols")
    colour = PLAIN_POINT if layer.geometry == "Point" else PLAIN_FILL
    _symbol(symbols, "0", layer.geometry, colour, PLAIN_OUTLINE, PLAIN_FILL_OPACITY)


def _labeling(root: ET.Element, field: str) -> None:
    labeling = ET.SubElement(root, "labeling", type="simple")
    settings = ET.SubElement(labeling, "settings", calloutType="simple")
    ET.SubElement(settings, "text-style", fieldName=field, isExpression="0", fontSize="10",
                  fontSizeUnit="Point", textColor="33,33,33,255", textOpacity="1",
                  fontWeight="50", namedStyle="Regular")
    ET.SubElement(settings, "text-buffer", bufferDraw="1", bufferSize="1", bufferSizeUnits="MM",
                  bufferColor="255,255,255,255", bufferOpacity="1")
    # OverPoint: at the polygon's centroid, kept inside it
    ET.SubElement(settings, "placement", placement="1", centroidInside="1", centroidWhole="0",
                  dist="0", priority="5")
    ET.SubElement(settings, "rendering", obstacle="1", drawLabels="1", displayAll="0",
                  upsidedownLabels="0", limitNumLabels="0")


def _fields(root: ET.Element, layer: LayerContract) -> None:
    """Aliases for every field, and the class column shown by its Chinese class names in the
    attribute table and forms (a value map) instead of its codes."""
    configuration = ET.SubElement(root, "fieldConfiguration")
    aliases = ET.SubElement(root, "aliases")
    fields = [("fid", FID_LABEL), *((c.name, c.label) for c in layer.columns)]
    for index, (name, label) in enumerate(fields):
        ET.SubElement(aliases, "alias", field=name, index=str(index), name=label)
        if name != layer.class_column:
            continue
        field = ET.SubElement(configuration, "field", name=name, configurationFlags="None")
        widget = ET.SubElement(field, "editWidget", type="ValueMap")
        config = ET.SubElement(ET.SubElement(widget, "config"), "Option", type="Map")
        entries = ET.SubElement(config, "Option", name="map", type="List")
        for c in layer.classes:
            entry = ET.SubElement(entries, "Option", type="Map")
            ET.SubElement(entry, "Option", name=c.label, value=c.value, type="QString")


def layer_qml(layer: LayerContract) -> str:
    """The layer's QGIS style document: renderer (categorised by the class column with the
    contract's colours and Chinese labels, else one symbol), labels, aliases."""
    root = ET.Element("qgis", version="3.22.0", styleCategories="AllStyleCategories",
                      labelsEnabled="1" if layer.label_column else "0",
                      hasScaleBasedVisibilityFlag="0", minScale="100000000", maxScale="0")
    _renderer(root, layer)
    if layer.label_column:
        _labeling(root, layer.label_column)
    _fields(root, layer)
    ET.SubElement(root, "layerOpacity").text = "1"
    ET.SubElement(root, "layerGeometryType").text = "0" if layer.geometry == "Point" else "2"
    ET.indent(root, " ")
    body = ET.tostring(root, encoding="unicode")
    return f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"
