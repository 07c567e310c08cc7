"""Open layers the way an analyst's QGIS does, headless, and say what it shows (JSON on stdout).

Run by tests/integration/test_qgis.py with Debian's /usr/bin/python3 and python3-qgis (QGIS
3.22 on GDAL 3.6: the client the analysts have), never the project's venv:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_open_layers.py MAP.png \
        gpkg/NAME=ogr:PATH|layername=NAME  pg/NAME=postgres:URI ...

Each layer is opened with QGIS's defaults, so its style comes from where QGIS looks for a
default style (`layer_styles`); the first group's layers are rendered together to MAP.png.
"""

from __future__ import annotations

import json
import os
import sys

from qgis.core import (
    QgsAbstractDatabaseProviderConnection,
    QgsApplication,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProviderRegistry,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def describe(layer: QgsVectorLayer) -> dict[str, object]:
    renderer = layer.renderer()
    categories = []
    if renderer is not None and renderer.type() == "categorizedSymbol":
        categories = [{"value": c.value(), "label": c.label(),
                       "colour": c.symbol().color().name()} for c in renderer.categories()]
    labeling = layer.labeling() if layer.labelsEnabled() else None
    fields = layer.fields()
    return {
        "valid": layer.isValid(),
        "crs": layer.crs().authid(),
        "features": layer.featureCount(),
        "aliases": {fields.at(i).name(): layer.attributeAlias(i) for i in range(fields.count())},
        "renderer": renderer.type() if renderer is not None else None,
        "categories": categories,
        "label_field": labeling.settings().fieldName if labeling is not None else None,
        "widgets": {fields.at(i).name(): layer.editorWidgetSetup(i).type()
                    for i in range(fields.count())},
    }


def render(layers: list[QgsVectorLayer], png: str) -> int:
    """The layers drawn together; the number of distinct colours in the picture."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(layers[0].crs())
    extent = QgsRectangle()
    for layer in layers:
        extent.combineExtentWith(layer.extent())
    settings.setExtent(extent)
    settings.setOutputSize(QSize(1000, 800))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(png, "PNG")
    colours = {image.pixel(x, y) for x in range(0, image.width(), 4)
               for y in range(0, image.height(), 4)}
    return len(colours)


def main(png: str, specs: list[str]) -> dict[str, object]:
    opened: dict[str, QgsVectorLayer] = {}
    for spec in specs:
        key, source = spec.split("=", 1)
        provider, uri = source.split(":", 1)
        opened[key] = QgsVectorLayer(uri, key, provider)
    layers = {key: describe(layer) for key, layer in opened.items()}
    group = specs[0].split("/", 1)[0]  # keys are GROUP/LAYER: the first group is drawn
    drawn = [layer for key, layer in opened.items()
             if key.startswith(f"{group}/") and layer.isValid()]
    return {"layers": layers, "colours": render(drawn, png) if drawn else 0,
            "listed": listed(os.environ.get("QGIS_LIST_CONNINFO", ""))}


def listed(conninfo: str) -> list[str]:
    """The spatial tables QGIS's browser offers on a PostGIS connection, with its defaults."""
    if not conninfo:
        return []
    metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
    connection = metadata.createConnection(conninfo, {})
    flags = QgsAbstractDatabaseProviderConnection.TableFlag.Vector
    return sorted(f"{t.schema()}.{t.tableName()}" for t in connection.tables("", flags))


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    try:
        result = main(sys.argv[1], sys.argv[2:])
    finally:
        app.exitQgis()
    print(json.dumps(result, ensure_ascii=False))
