"""Vector deliveries through GDAL: zipped Shapefile, GeoPackage, GeoJSON.

Before GDAL opens anything: the Shapefile's record counts from its .shx and .dbf headers, the
GeoPackage's layers counted by SQLite under a time budget (a layer may be a view over an
endless recursive query, which GDAL would evaluate without end), the GeoJSON's nesting depth.
GDAL's own messages go to the engineers' log; the clerk reads what to fix.
"""

from __future__ import annotations

import codecs
import sqlite3
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from pipelines.contracts import Contract, normalise_header
from pipelines.read import limits, safety, scan
from pipelines.read.delivery import RawDelivery
from pipelines.read.errors import FileRejected, library_detail, too_large
from pipelines.read.spreadsheet import EXACT_DIGITS, cell_text

# ArcGIS writes Windows code page numbers into .cpg as often as names.
CPG_CODE_PAGES = {"65001": "UTF-8", "936": "GBK", "54936": "GB18030"}
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf")  # what GDAL needs; .prj and .cpg are optional
_PLAIN_LAYER = "请在 GIS 软件中把图层导出为普通要素表（不要用视图）后重新报送"


def _unreadable(name: str, exc: BaseException, what: str = "") -> FileRejected:
    return FileRejected("unreadable", f"无法读取 {name}{what}（文件损坏或结构有误）：请确认文件能在 "
                        "QGIS 或 ArcGIS 中正常打开后重新导出报送", detail=library_detail(exc))


def shapefile_in(members: list[Path], name: str) -> Path:
    """The one Shapefile set among a zip's members, its parts named alike (GDAL looks for
    `<stem>.shx` beside `<stem>.shp`): a missing part is named here, not left to GDAL."""
    shps = [m for m in members if m.suffix.lower() == ".shp"]
    if len(shps) != 1:
        raise FileRejected("format", f"{name} 中应恰好有一个 .shp 文件，实际 {len(shps)} 个")
    stem = shps[0].stem
    parts = {m.suffix.lower(): m for m in members if m.stem.casefold() == stem.casefold()}
    missing = [p for p in SHAPEFILE_PARTS if p not in parts]
    if missing:
        raise FileRejected("format", f"{name} 中的 Shapefile {stem}.shp 缺少 {'、'.join(missing)} 文件"
                           "（Shapefile 至少由同名的 .shp、.shx、.dbf 组成）：请把同名的全部文件一起压缩后重新报送")
    for suffix, member in parts.items():
        member.rename(member.with_name(stem + suffix))
    return shps[0].with_name(stem + ".shp")


def read_zipped_shapefile(path: Path, workdir: Path, contract: Contract,
                          name: str) -> RawDelivery:
    """A zipped Shapefile, unpacked into `workdir` (`safety.extract_zip`: its bombs and
    paths refused there) and read: in the reading child, so the unpacking is bounded by the
    child's limits too, and runs beside whatever this process does meanwhile
    (`isolate.beside_next_parse`: at 1x, 140 MB unpacked from a county's 13 MB zip, 1.4-2 s
    that the run's worker spent before the parse began)."""
    return read_shapefile(shapefile_in(safety.extract_zip(path, workdir, name), name),
                          contract, name)


def _check_records(shp: Path, name: str) -> None:
    """Records as the .shx (8 bytes each after a 100-byte header) and .dbf header declare."""
    shx_records = (shp.with_suffix(".shx").stat().st_size - 100) // 8
    with open(shp.with_suffix(".dbf"), "rb") as f:
        head = f.read(8)
    dbf_records = struct.unpack_from("<I", head, 4)[0] if len(head) == 8 else 0
    records = max(shx_records, dbf_records)
    if records > limits.MAX_ROWS:
        raise too_large(name, f"有 {records} 个要素", f"{limits.MAX_ROWS} 个要素")


def read_shapefile(shp: Path, contract: Contract, name: str) -> RawDelivery:
    cpg = shp.with_suffix(".cpg")
    notes: dict[str, Any] = {"format": "ESRI Shapefile (zip)", "layer": shp.stem}
    if cpg.exists():
        said = cpg.read_text(errors="replace")[:64].strip() or "GBK"
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
    _check_driver(shp, safety.check_vector_content(shp, ".shp", name), None, name)
    _check_records(shp, name)
    # through Arrow, as GDAL hands it over: at 1x a county's 106 thousand parcels in 1.9-2.5 s
    # instead of 3.1
    if codecs.lookup(encoding).name == "utf-8":  # (nothing to recode: GDAL's as it is)
        gdf = _gdal(name, pyogrio.read_dataframe, shp, encoding=encoding, use_arrow=True)
    else:
        gdf = _gdal(name, _read_recoded, shp, encoding)
    return _delivery(gdf, contract, notes, name)


def _read_recoded(shp: Path, encoding: str) -> gpd.GeoDataFrame:
    """The Shapefile as `pyogrio.read_dataframe(shp, encoding=encoding, use_arrow=True)`
    reads it, its DBF text decoded here. GDAL recodes a DBF value by value through iconv,
    opening a converter for each: at 1x a county's 106 thousand parcels spent 1.3 of their
    1.7 s reading there. Read undecoded (the driver's ENCODING="" open option: the bytes
    as stored), each text column's distinct values are decoded once; a byte sequence the
    encoding does not hold becomes U+FFFD, which `row_checks` reports by cell, as it does
    what GDAL could not decode."""
    meta, table = pyogrio.raw.read_arrow(shp, datetime_as_string=True, ENCODING="")
    decoded = [_decoded_text(table.column(i), encoding)
               if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
               else table.column(i) for i, f in enumerate(table.schema)]
    frame = pa.table(decoded, names=table.column_names).to_pandas(self_destruct=True)
    del table, decoded
    column = meta["geometry_name"] or "wkb_geometry"
    geometry = shapely.from_wkb(frame.pop(column).to_numpy()) if column in frame else None
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=meta["crs"])


def _decoded_text(values: pa.ChunkedArray, encoding: str) -> pa.Array:
    """A text column read as the DBF's bytes, decoded from `encoding` (its distinct values,
    each once; nulls stay null)."""
    codes = values.cast(pa.binary()).combine_chunks().dictionary_encode()
    words = [None if b is None else b.decode(encoding, errors="replace")
             for b in codes.dictionary.to_pylist()]
    return pa.array(words, pa.string()).take(codes.indices)


def _delivery(gdf: gpd.GeoDataFrame, contract: Contract, notes: dict[str, Any],
              name: str) -> RawDelivery:
    if len(gdf) > limits.MAX_ROWS:
        raise too_large(name, f"有 {len(gdf)} 个要素", f"{limits.MAX_ROWS} 个要素")
    gdf = _codes_as_text(gdf, contract, notes)
    return RawDelivery(gdf, pd.Series(range(1, len(gdf) + 1), index=gdf.index), notes)


def _gdal(name: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call` into GDAL; what GDAL says goes to the engineers' log, the clerk reads ours.
    Running out of memory stays MemoryError: the reading child answers it as `too_large`."""
    try:
        return call(*args, **kwargs)
    except MemoryError:
        raise
    except Exception as exc:
        raise _unreadable(name, exc) from exc


def _check_driver(path: Path, expected: str, layer: str | None, name: str) -> None:
    reported = str(_gdal(name, pyogrio.read_info, path, layer=layer)["driver"])
    safety.check_driver(name, expected, reported)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _refuse_nul(db: sqlite3.Connection, layer: str, name: str) -> None:
    """GDAL reads a GeoPackage's text up to its first NUL, so `NA<NUL>01` and `NA<NUL>02` would
    both load as `NA`: a value SQLite still sees whole is refused here, naming the feature."""
    geometry = {r[0] for r in db.execute(
        "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (layer,))}
    columns = [str(r[1]) for r in db.execute(f"PRAGMA table_info({_quote(layer)})")
               if str(r[1]) not in geometry and "BLOB" not in str(r[2]).upper()]
    if not columns:
        return
    listed = ", ".join(_quote(c) for c in columns)
    holds_nul = " OR ".join(f"(typeof({_quote(c)}) = 'text' AND "
                            f"instr(CAST({_quote(c)} AS BLOB), x'00') > 0)" for c in columns)
    found = db.execute(f"SELECT * FROM (SELECT row_number() OVER () AS n, {listed} "  # noqa: S608
                       f"FROM {_quote(layer)}) WHERE {holds_nul} LIMIT 1").fetchone()
    if found is not None:
        field = next(c for c, v in zip(columns, found[1:], strict=True)
                     if isinstance(v, str) and "\x00" in v)
        raise FileRejected("bad_characters", f"{name} 的图层 {layer} 第 {found[0]} 个要素的 {field} "
                           "含空字符 NUL（读取时会从该处截断），已拒收：请删除该字符后重新导出报送",
                           row=int(found[0]), field=field)


def _guard_geopackage(path: Path, name: str, seconds: float) -> None:
    """Count every layer's rows with SQLite itself, each query cut off after `seconds`."""
    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True)
    deadline = [0.0]
    db.set_progress_handler(lambda: int(time.monotonic() > deadline[0]), 10_000)
    layer = ""
    try:
        db.execute("PRAGMA trusted_schema = OFF")  # a view may call no function with effects
        db.execute(f"PRAGMA hard_heap_limit = {limits.GPKG_QUERY_HEAP_BYTES}")
        deadline[0] = time.monotonic() + seconds
        tables = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents LIMIT ?",
                                           (limits.GPKG_MAX_LAYERS + 1,))]
        if len(tables) > limits.GPKG_MAX_LAYERS:
            raise too_large(name, "的图层过多", f"{limits.GPKG_MAX_LAYERS} 个图层")
        for layer in tables:
            deadline[0] = time.monotonic() + seconds
            (count,) = db.execute(f"SELECT count(*) FROM {_quote(layer)}").fetchone()  # noqa: S608
            if count > limits.MAX_ROWS:
                raise too_large(name, f"的图层 {layer} 有 {count} 个要素", f"{limits.MAX_ROWS} 个要素")
            deadline[0] = time.monotonic() + seconds
            _refuse_nul(db, str(layer), name)
    except sqlite3.Error as exc:
        if "interrupted" in str(exc):
            raise too_large(name, f"的图层 {layer} 查询用时过长（可能是无限递归的视图）",
                            f"每次查询 {seconds:g} 秒", detail=library_detail(exc),
                            advice=_PLAIN_LAYER) from exc
        if isinstance(exc, sqlite3.OperationalError) and "memory" in str(exc):
            raise too_large(name, f"的图层 {layer} 查询所需内存过大",
                            f"每次查询 {limits.size_zh(limits.GPKG_QUERY_HEAP_BYTES)}",
                            detail=library_detail(exc), advice=_PLAIN_LAYER) from exc
        raise _unreadable(name, exc, f" 的图层 {layer}" if layer else "") from exc
    finally:
        db.close()


def read_vector(path: Path, contract: Contract, name: str, query_seconds: float) -> RawDelivery:
    # Sniff and check before GDAL's open: its drivers would follow what the bytes ask for.
    driver = safety.check_vector_content(path, path.suffix.lower(), name)
    if driver == "GPKG":
        _guard_geopackage(path, name, query_seconds)
    elif driver == "GeoJSON":
        with open(path, "rb") as f:
            depth = scan.json_depth(scan.chunks(f))
        if depth > limits.GEOJSON_MAX_DEPTH:
            raise too_large(name, f"的嵌套层数为 {depth}", f"{limits.GEOJSON_MAX_DEPTH} 层",
                            advice="请用 GIS 软件重新导出 GeoJSON 后重新报送")
    layers = [layer for layer, _ in _gdal(name, pyogrio.list_layers, path)]
    wanted = {normalise_header(n) for n in (*contract.layer_names, contract.dataset)}
    matches = [n for n in layers if normalise_header(n) in wanted]
    if len(matches) == 1:
        layer = matches[0]
    elif len(layers) == 1:
        layer = layers[0]
    else:
        raise FileRejected("layer", f"{name} 含图层 {layers}，无法确定哪一个是"
                           f"{contract.title}（应为 {', '.join(contract.layer_names)} 之一）")
    _check_driver(path, driver, layer, name)
    # (through Arrow: a province's 300 thousand projects in 0.9 s, 597 MB, instead of
    # 3.3 s, 667 MB)
    gdf = _gdal(name, pyogrio.read_dataframe, path, layer=layer, use_arrow=True)
    notes: dict[str, Any] = {"format": driver, "layer": layer,
                             "other_layers_ignored": [n for n in layers if n != layer]}
    return _delivery(gdf, contract, notes, name)


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
