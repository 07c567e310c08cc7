"""`yitu export`: a published layer to a file an analyst can use."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyogrio

from pipelines.config import UsageError
from pipelines.contracts import LAYER_ORDER as LAYERS
from pipelines.contracts import load_layer
from pipelines.publish.layers import analyst_types
from pipelines.warehouse import Warehouse
from pipelines.warehouse.gpkg import write_labelled_layer

FORMULA_START = ("=", "+", "-", "@")


def _escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """CSV cells a spreadsheet would run as formulas get a leading quote; numbers untouched."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: "'" + v if isinstance(v, str)
                                    and v.startswith(FORMULA_START) else v)
    return out


def export_layer(wh: Warehouse, layer: str, output: Path) -> int:
    if layer not in LAYERS:
        raise UsageError(f"unknown layer {layer!r}; published layers: {', '.join(LAYERS)}")
    gdf = analyst_types(layer, wh.read_published(layer))
    suffix = output.suffix.lower()
    output.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gpkg":
        write_labelled_layer(gdf, output, layer, load_layer(layer).labels())
    elif suffix in (".geojson", ".json"):
        pyogrio.write_dataframe(gdf, output, driver="GeoJSON")
    elif suffix == ".parquet":
        gdf.to_parquet(output, index=False)
    elif suffix == ".csv":
        table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        table["wkt"] = gdf.geometry.to_wkt()
        _escape_formulas(table).to_csv(output, index=False, encoding="utf-8-sig")
    else:
        raise UsageError(f"unsupported export format {suffix!r}: use .gpkg .geojson .parquet .csv")
    return len(gdf)
