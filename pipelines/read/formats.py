"""Open a dropped file whatever its format and give back its rows with their row numbers.

Formats departments really send: zipped Shapefile, GeoPackage, GeoJSON, CSV and XLSX.
Values stay text here; the contract types them in `conform`.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyogrio

from pipelines.contracts import Contract, normalise_header
from pipelines.read import safety
from pipelines.read.errors import FileRejected
from pipelines.read.spreadsheet import (
    EXACT_DIGITS,
    HEADER_SEARCH_ROWS,
    cell_text,
    find_header,
    read_xlsx,
)

log = logging.getLogger(__name__)
# Tried in this order: GB18030 is a superset of GBK, so a file GBK reads is GBK.
CSV_ENCODINGS = ("utf-8-sig", "gbk", "gb18030")
CSV_HEAD_CHARS = 1 << 20  # where the header is looked for: far more than 16 lines
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


# Faults of this machine, never answered to a department as "your file is unreadable".
_MACHINE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EMFILE, errno.ENFILE,
                   errno.EIO, errno.EACCES, errno.EPERM, errno.ENOMEM}


def machine_fault(exc: BaseException) -> bool:
    """Out of memory, disk or file handles, or refused by permissions: retry or fix the
    machine, and leave the drop pending."""
    if isinstance(exc, MemoryError):
        return True
    return isinstance(exc, OSError) and exc.errno in _MACHINE_ERRNOS


def open_delivery(path: Path, contract: Contract, workdir: Path) -> RawDelivery:
    safety.disable_gdal_network()
    safety.check_local_path(path)
    if path.stat().st_size == 0:
        raise FileRejected("file_empty", f"文件 {path.name} 为空")
    try:
        return _open(path, contract, workdir)
    except FileRejected:
        raise
    except Exception as exc:  # a reader library choking on a malformed file: still an answer
        if machine_fault(exc):
            raise  # our disk, memory or permissions, not the department's file: the task fails
        log.warning("%s: unreadable", path.name, exc_info=True)
        raise FileRejected("unreadable", f"无法读取 {path.name}（文件损坏或结构有误）："
                           f"{type(exc).__name__}: {str(exc)[:300]}") from exc


def _open(path: Path, contract: Contract, workdir: Path) -> RawDelivery:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _read_zipped_shapefile(path, contract, workdir)
    if suffix in (".gpkg", ".geojson", ".json"):
        return _read_vector(path, contract)
    if suffix == ".csv":
        return _read_csv(path, contract)
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
    gdf = _codes_as_text(pyogrio.read_dataframe(shp, encoding=encoding, use_arrow=False),
                         contract, notes)
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
    notes: dict[str, Any] = {"format": driver, "layer": layer,
                             "other_layers_ignored": [n for n in layers if n != layer]}
    gdf = _codes_as_text(gdf, contract, notes)
    return RawDelivery(gdf, pd.Series(range(1, len(gdf) + 1), index=gdf.index), notes)


def _codes_as_text(gdf: gpd.GeoDataFrame, contract: Contract,
                   notes: dict[str, Any]) -> gpd.GeoDataFrame:
    """Text fields the exporting tool stored as Real or Integer (XZQDM 460105.0, QSXZ 30) as
    the code a clerk would read: exact digits while a double holds them, beyond that the
    scientific notation a spreadsheet shows, which `row_checks` reports as a damaged code."""
    known = contract.header_map()
    text = {f.column for f in contract.fields if f.type == "string"}
    numeric: list[str] = []
    for col in gdf.columns:
        if col == gdf.geometry.name or known.get(normalise_header(col)) not in text:
            continue
        values = gdf[col]
        if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
            continue
        numeric.append(str(col))
        as_float = values.to_numpy(dtype=float, na_value=np.nan)
        exact = np.isfinite(as_float) & (np.abs(as_float) < 10.0**EXACT_DIGITS)
        exact &= as_float == np.trunc(as_float)
        out = pd.Series(pd.NA, index=gdf.index, dtype=object)
        out[exact] = as_float[exact].astype(np.int64).astype(str)
        rest = ~exact & values.notna().to_numpy()
        if pd.api.types.is_integer_dtype(values):  # Integer64 fields hold every digit
            out[rest] = values[rest].astype(str)
        else:
            out[rest] = [cell_text(float(v)) for v in as_float[rest]]
        gdf[col] = out
    if numeric:
        notes["numeric_code_fields"] = numeric
    return gdf


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
    return codec.upper()


def _csv_header(text: str, contract: Contract) -> tuple[int, list[str]]:
    """0-based line of the header and its cells: a title line above it is common in exports
    from Excel. Without a recognisable header the first line is taken (and the missing
    columns named)."""
    head = list(itertools.islice(csv.reader(io.StringIO(text[:CSV_HEAD_CHARS])),
                                 HEADER_SEARCH_ROWS + 1))
    found = find_header([[c or None for c in r] for r in head], contract.header_map()) or 0
    return found, head[found] if head else []


def _csv_frame(text: str, header_at: int, header: list[str], name: str) -> pd.DataFrame:
    """Every cell as text, empty cells null. pyarrow's reader is ~3x faster than pandas' on
    all-text columns; pandas reads what pyarrow cannot take (repeated or blank header names,
    which pandas renames and the contract mapping then reports)."""
    if not header or len(set(header)) < len(header) or not all(h.strip() for h in header):
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                           na_values=[""], skip_blank_lines=True, skiprows=header_at)
    try:
        table = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(skip_rows=header_at),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(header, pa.string()),
                                                 strings_can_be_null=True))
    except pa.ArrowInvalid as exc:  # pyarrow says why in English; the clerk needs the line
        line, cells = _first_ragged_line(text, header_at, len(header))
        where = f"第 {line} 行有 {cells} 列，表头有 {len(header)} 列" if line else str(exc)[:200]
        raise FileRejected("unreadable", f"{name} 的表格结构有误（列数与表头不符或引号未闭合）："
                           f"{where}", row=line) from exc
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def _first_ragged_line(text: str, header_at: int, width: int) -> tuple[int | None, int]:
    """The line (1-based, as Excel numbers it) of the first record whose cell count is not
    the header's; only looked for once pyarrow has refused the file."""
    reader = csv.reader(io.StringIO(text))
    for i, record in enumerate(reader):
        if i > header_at and record and len(record) != width:
            return reader.line_num, len(record)
    return None, width


def _read_csv(path: Path, contract: Contract) -> RawDelivery:
    data = path.read_bytes()
    text, encoding = _decode(data, path.name)
    header_at, header = _csv_header(text, contract)
    frame = _csv_frame(text, header_at, header, path.name)
    # Data row i (0-based) is line header_at + i + 2 as the clerk sees it in Excel.
    rows = pd.Series(range(header_at + 2, header_at + len(frame) + 2), index=frame.index)
    notes: dict[str, Any] = {"format": "CSV", "encoding": encoding,
                             "encoding_detected": _encoding_name(data, encoding)}
    if header_at:
        notes["header_row"] = header_at + 1
    return RawDelivery(frame, rows, notes)


def _read_xlsx(path: Path, contract: Contract) -> RawDelivery:
    with safety.open_zip(path) as zf:  # an XLSX is a zip: the same bomb limits apply
        safety.reject_xml_dtd(zf, path.name)
    frame, rows, notes = read_xlsx(path, contract)
    return RawDelivery(frame, rows, notes)
