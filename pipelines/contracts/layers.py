"""Layer contracts: `schemas/layers/<layer>.yml` says everything about a published layer once.

Its columns (type, Chinese label), geometry type, key and classes drive the published table's
types, the GeoPackage aliases, the PostGIS comments, the pygeoapi resource and the README's
layer table (see `pipelines.codegen`).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import model_validator

from pipelines.contracts.base import Strict, lookup, schema_dir

ColumnType = Literal["string", "integer", "number", "boolean", "datetime", "date"]


class LayerColumn(Strict):
    name: str
    type: ColumnType
    label: str
    description: str | None = None


class LayerClass(Strict):
    value: str
    label: str
    colour: str


class LayerContract(Strict):
    layer: str
    title: str
    description: str
    keywords: tuple[str, ...] = ()
    geometry: Literal["MultiPolygon", "Point"]
    # Built county by county (one mapped task each), or over all counties at the end.
    partitioned: bool
    key: str | None = None
    class_column: str | None = None
    classes: tuple[LayerClass, ...] = ()
    # Labels the map draws (the QGIS style): a name readable at county scale.
    label_column: str | None = None
    columns: tuple[LayerColumn, ...]

    @model_validator(mode="after")
    def _references_exist(self) -> LayerContract:
        names = [c.name for c in self.columns]
        missing = [r for r in (self.key, self.class_column, self.label_column)
                   if r and r not in names]
        if missing:
            raise ValueError(f"{self.layer}: contract names unknown columns {missing}")
        if bool(self.class_column) != bool(self.classes):
            raise ValueError(f"{self.layer}: class_column and classes go together")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def columns_of_type(self, kind: ColumnType) -> list[str]:
        return [c.name for c in self.columns if c.type == kind]

    def labels(self) -> dict[str, str]:
        """Column -> Chinese label, and "" -> the layer's title (GeoPackage and PostGIS)."""
        return {"": self.title, **{c.name: c.label for c in self.columns}}

    def class_label(self, value: str) -> str:
        return next((c.label for c in self.classes if c.value == value), value)


# The published layers, in the order integration builds them (partitioned ones first).
LAYER_ORDER: tuple[str, ...] = (
    "farmland_base_map", "farmland_conflicts", "licenses_on_farmland", "complaints_enriched",
    "enterprise_profile", "region_summary", "county_assessment",
)


@cache
def _layers(folder: Path) -> dict[str, LayerContract]:
    found = {}
    for path in sorted((folder / "layers").glob("*.yml")):
        layer = LayerContract.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        if layer.layer != path.stem:
            raise ValueError(f"{path.name} declares layer {layer.layer!r}")
        found[layer.layer] = layer
    unknown = set(found) - set(LAYER_ORDER)
    if unknown or len(found) != len(LAYER_ORDER):
        raise ValueError(f"{folder / 'layers'}: layer contracts {sorted(found)}, "
                         f"integration builds {list(LAYER_ORDER)}")
    return {name: found[name] for name in LAYER_ORDER}


def load_layer(layer: str, folder: Path | None = None) -> LayerContract:
    return lookup(_layers(folder or schema_dir()), layer, "layer")


def all_layers(folder: Path | None = None) -> list[LayerContract]:
    return list(_layers(folder or schema_dir()).values())
