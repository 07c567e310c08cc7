"""A parsed delivery as an Arrow IPC file: how the reading child hands its frame back.

Arrow IPC is data only (no code runs when it is read, unlike a pickle from a child that has
parsed hostile bytes) and costs one write and one read of the frame's buffers. Columns are
stored by position (a spreadsheet may repeat a header); names, dtypes, the geometry (WKB)
and its CRS (PROJJSON) travel in the schema's metadata.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyproj
import shapely

from pipelines.read.delivery import RawDelivery

_ROW, _GEOMETRY, _META = "__row__", "__geometry__", b"yitu"


def _text(values: pd.Series) -> pd.Series:
    """A column Arrow cannot type (mixed Python objects) as the text of each value."""
    return values.map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v))
                      else str(v)).astype(object)


def _arrow(values: pd.Series) -> pa.Array | pa.ChunkedArray:
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array(_text(values), type=pa.string(), from_pandas=True)


def save(raw: RawDelivery, out: Path) -> None:
    frame = raw.frame
    meta: dict[str, Any] = {"columns": [str(c) for c in frame.columns], "geometry": None}
    attrs = frame
    if isinstance(frame, gpd.GeoDataFrame):
        meta["geometry"] = str(frame.geometry.name)
        meta["crs"] = frame.crs.to_json() if frame.crs is not None else None
        attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        meta["columns"] = [str(c) for c in attrs.columns]
    meta["dtypes"] = [str(t) for t in attrs.dtypes]
    arrays = [_arrow(attrs.iloc[:, i]) for i in range(attrs.shape[1])]
    names = [f"c{i}" for i in range(len(arrays))]
    arrays.append(pa.array(raw.row_numbers.to_numpy(dtype=np.int64)))
    names.append(_ROW)
    if meta["geometry"] is not None:
        wkb = shapely.to_wkb(np.asarray(frame.geometry.values, dtype=object))
        arrays.append(pa.array(wkb, type=pa.binary()))
        names.append(_GEOMETRY)
    table = pa.Table.from_arrays(arrays, names=names,
                                 metadata={_META: json.dumps(meta, ensure_ascii=False)})
    with pa.OSFile(str(out), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


_ARROW_TEXT = {pa.string(): pd.StringDtype("pyarrow")}.get


def text_frame(columns: list[pa.ChunkedArray], names: list[str]) -> pd.DataFrame:
    """Text columns as an Arrow-backed frame; `names` may repeat (a spreadsheet's header)."""
    table = pa.table({f"c{i}": c for i, c in enumerate(columns)})
    frame = table.to_pandas(types_mapper=_ARROW_TEXT)
    frame.columns = pd.Index(names, dtype=object)
    return frame


def _column(table: pa.Table, i: int, dtype: str) -> pd.Series:
    column = table.column(i)
    if dtype.startswith("string"):  # the readers' Arrow-backed text stays Arrow-backed
        return pa.table({"c": column}).to_pandas(types_mapper=_ARROW_TEXT)["c"]
    if dtype in ("Int64", "Int32", "boolean", "Float64"):
        return pd.Series(column.to_pandas(), dtype=dtype)
    return column.to_pandas()


def load(path: Path, notes: dict[str, Any]) -> RawDelivery:
    with pa.OSFile(str(path), "rb") as source:
        table = pa.ipc.open_file(source).read_all()
    table.validate(full=True)  # written by a child that parsed hostile bytes: trust nothing
    meta = json.loads(table.schema.metadata[_META])
    columns = [_column(table, i, t) for i, t in enumerate(meta["dtypes"])]
    frame = pd.concat(columns, axis=1, ignore_index=True) if columns else \
        pd.DataFrame(index=pd.RangeIndex(table.num_rows))
    frame.columns = pd.Index(meta["columns"], dtype=object)
    rows = pd.Series(table.column(_ROW).to_numpy(), index=frame.index)
    if meta["geometry"] is not None:
        wkb = table.column(_GEOMETRY).to_numpy(zero_copy_only=False)
        crs = pyproj.CRS.from_json(meta["crs"]) if meta.get("crs") else None
        with np.errstate(invalid="ignore"):  # NaN coordinates: row_checks reports them
            geometry = gpd.GeoSeries(shapely.from_wkb(wkb), crs=crs, index=frame.index)
        frame = gpd.GeoDataFrame(frame, geometry=geometry, crs=crs)
        if meta["geometry"] != frame.geometry.name:
            frame = frame.rename_geometry(meta["geometry"])
    return RawDelivery(frame, rows, notes)
