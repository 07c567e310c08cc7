"""Open a dropped file whatever its format and give back its rows with their row numbers.

Formats departments really send: zipped Shapefile, GeoPackage, GeoJSON, CSV and XLSX.
Values stay text here; the contract types them in `conform`.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from pipelines.contracts import Contract, normalise_header
from pipelines.ingest import safety
from pipelines.ingest.errors import FileRejected
from pipelines.ingest.spreadsheet import read_xlsx

CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK
# ArcGIS writes Windows code page numbers into .cpg as often as names.
CPG_CODE_PAGES = {"65001": "UTF-8", "936": "GBK", "54936": "GB18030"}


@dataclass
class RawDelivery:
    frame: pd.DataFrame  # a GeoDataFrame for vector formats
    row_numbers: pd.Series  # what the department sees: spreadsheet row or feature number
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def is_vector(self) -> bool:
        return isinstance(self.frame, gpd.GeoDataFrame)


def open_delivery(path: Path, contract: Contract, workdir: Path) -> RawDelivery:
    suffix = path.suffix.lower()
    safety.check_local_path(path)
    if path.stat().st_size == 0:
        raise FileRejected("file_empty", f"文件 {path.name} 为空")
    if suffix == ".zip":
        return _read_zipped_shapefile(path, contract, workdir)
    if suffix in (".gpkg", ".geojson", ".json"):
        return _read_vector(path, contract)
    if suffix == ".csv":
        return _read_csv(path)
    if suffix == ".xlsx":
        return _read_xlsx(path, contract)
    raise FileRejected("format", f"不支持的文件格式 {suffix or '(无扩展名)'}：请报送 zip(Shapefile)、"
                       "GeoPackage、GeoJSON、CSV 或 XLSX")


def _read_zipped_shapefile(path: Path, contract: Contract, workdir: Path) -> RawDelivery:
    members = safety.extract_zip(path, workdir)
    shps = [m for m in members if m.suffix.lower() == ".shp"]
    if len(shps) != 1:
        raise FileRejected("format", f"{path.name} 中应恰好有一个 .shp 文件，实际 {len(shps)} 个")
    shp = shps[0]
    cpg = shp.with_suffix(".cpg")
    notes: dict[str, Any] = {"format": "ESRI Shapefile (zip)", "layer": shp.stem}
    if cpg.exists():
        said = cpg.read_text(errors="replace").strip() or "GBK"
        encoding = CPG_CODE_PAGES.get(said, said)
        notes["encoding"] = f"{encoding} (from .cpg)"
    else:
        # Chinese exports without .cpg are GBK in practice (DATASETS.md).
        encoding = "GBK"
        notes["encoding"] = "GBK (no .cpg: the default for Chinese exports)"
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise FileRejected("encoding", f".cpg 声明了未知编码 {encoding!r}") from exc
    notes["prj"] = shp.with_suffix(".prj").exists()
    _check_driver(shp, safety.check_vector_content(shp, ".shp"), None)
    gdf = pyogrio.read_dataframe(shp, encoding=encoding, use_arrow=False)
    return RawDelivery(gdf, pd.Series(range(1, len(gdf) + 1), index=gdf.index), notes)


def _check_driver(path: Path, expected: str, layer: str | None) -> None:
    try:
        reported = str(pyogrio.read_info(path, layer=layer)["driver"])
    except Exception as exc:  # GDAL says why in its own words; the clerk needs ours
        raise FileRejected("unreadable", f"无法读取 {path.name}：{exc}") from exc
    safety.check_driver(path, expected, reported)


def _read_vector(path: Path, contract: Contract) -> RawDelivery:
    # Sniff and check before GDAL's open: its drivers would follow what the bytes ask for.
    driver = safety.check_vector_content(path, path.suffix.lower())
    try:
        layers = [name for name, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # GDAL says why in its own words; the clerk needs ours
        raise FileRejected("unreadable", f"无法读取 {path.name}：{exc}") from exc
    wanted = {normalise_header(n) for n in (*contract.layer_names, contract.dataset)}
    matches = [n for n in layers if normalise_header(n) in wanted]
    if len(matches) == 1:
        layer = matches[0]
    elif len(layers) == 1:
        layer = layers[0]
    else:
        raise FileRejected("layer", f"{path.name} 含图层 {layers}，无法确定哪一个是"
                           f"{contract.title}（应为 {', '.join(contract.layer_names)} 之一）")
    _check_driver(path, driver, layer)
    gdf = pyogrio.read_dataframe(path, layer=layer, use_arrow=False)
    notes = {"format": driver, "layer": layer,
             "other_layers_ignored": [n for n in layers if n != layer]}
    return RawDelivery(gdf, pd.Series(range(1, len(gdf) + 1), index=gdf.index), notes)


def _decode(data: bytes, name: str) -> tuple[str, str]:
    first_error: UnicodeDecodeError | None = None
    for enc in CSV_ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    assert first_error is not None
    line = data[: first_error.start].count(b"\n") + 1
    raise FileRejected("encoding", f"{name} 的编码无法识别（UTF-8/GBK/GB18030 均不符）："
                       f"第 {line} 行，字节偏移 {first_error.start}", row=line)


def _encoding_name(data: bytes, codec: str) -> str:
    """What the clerk would call it: the codec that read the file is not always the name."""
    if codec == "utf-8-sig":
        return "UTF-8 with BOM" if data.startswith(codecs.BOM_UTF8) else "UTF-8"
    try:
        data.decode("gbk")
    except UnicodeDecodeError:
        return "GB18030"
    return "GBK"


def _read_csv(path: Path) -> RawDelivery:
    data = path.read_bytes()
    text, encoding = _decode(data, path.name)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""],
                        skip_blank_lines=True)
    # Header is line 1, so data row i (0-based) is line i + 2 as the clerk sees it in Excel.
    rows = pd.Series(range(2, len(frame) + 2), index=frame.index)
    return RawDelivery(frame, rows, {"format": "CSV", "encoding": encoding,
                                     "encoding_detected": _encoding_name(data, encoding)})


def _read_xlsx(path: Path, contract: Contract) -> RawDelivery:
    with safety.open_zip(path) as zf:  # an XLSX is a zip: the same bomb limits apply
        safety.reject_xml_dtd(zf, path.name)
    frame, rows, notes = read_xlsx(path, contract)
    return RawDelivery(frame, rows, notes)
