"""Open a dropped file whatever its format and give back its rows with their row numbers.

Formats departments really send: zipped Shapefile, GeoPackage, GeoJSON, CSV and XLSX.
Values stay text here; the contract types them in `conform`.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from pipelines.contracts import Contract, normalise_header
from pipelines.ingest.errors import FileRejected

# Limits on what a zip may unpack to: dropped files are hostile until read.
MAX_UNPACKED_BYTES = 4 * 1024**3
MAX_RATIO = 200
CSV_ENCODINGS = ("utf-8-sig", "gb18030")  # GB18030 is a superset of GBK


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


def _safe_extract(path: Path, workdir: Path) -> list[Path]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise FileRejected("unreadable", f"{path.name} 不是有效的 zip 文件") from exc
    with zf:
        infos = zf.infolist()
        total = sum(i.file_size for i in infos)
        packed = max(1, sum(i.compress_size for i in infos))
        if total > MAX_UNPACKED_BYTES or total / packed > MAX_RATIO:
            raise FileRejected("zip_bomb", f"{path.name} 解压后过大（{total} 字节，压缩比 "
                               f"{total / packed:.0f}），已拒收")
        out: list[Path] = []
        workdir.mkdir(parents=True, exist_ok=True)
        for info in infos:
            name = info.filename
            is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
            if name.startswith(("/", "\\")) or ".." in Path(name).parts or ":" in name or is_link:
                raise FileRejected("zip_member", f"{path.name} 中的成员 {name!r} 路径不安全，已拒收")
            if info.is_dir():
                continue
            target = workdir / Path(name).name  # flatten: only the file names matter
            with zf.open(info) as src, open(target, "wb") as dst:
                dst.write(src.read(MAX_UNPACKED_BYTES + 1))
            out.append(target)
        return out


def _read_zipped_shapefile(path: Path, contract: Contract, workdir: Path) -> RawDelivery:
    members = _safe_extract(path, workdir)
    shps = [m for m in members if m.suffix.lower() == ".shp"]
    if len(shps) != 1:
        raise FileRejected("format", f"{path.name} 中应恰好有一个 .shp 文件，实际 {len(shps)} 个")
    shp = shps[0]
    cpg = shp.with_suffix(".cpg")
    notes: dict[str, Any] = {"format": "ESRI Shapefile (zip)", "layer": shp.stem}
    if cpg.exists():
        encoding = cpg.read_text(errors="replace").strip() or "GBK"
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
    gdf = pyogrio.read_dataframe(shp, encoding=encoding, use_arrow=False)
    return RawDelivery(gdf, pd.Series(range(1, len(gdf) + 1), index=gdf.index), notes)


def _read_vector(path: Path, contract: Contract) -> RawDelivery:
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
    gdf = pyogrio.read_dataframe(path, layer=layer, use_arrow=False)
    notes = {"format": pyogrio.read_info(path, layer=layer)["driver"], "layer": layer,
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


def _read_csv(path: Path) -> RawDelivery:
    text, encoding = _decode(path.read_bytes(), path.name)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""],
                        skip_blank_lines=True)
    # Header is line 1, so data row i (0-based) is line i + 2 as the clerk sees it in Excel.
    rows = pd.Series(range(2, len(frame) + 2), index=frame.index)
    return RawDelivery(frame, rows, {"format": "CSV", "encoding": encoding})


def _read_xlsx(path: Path, contract: Contract) -> RawDelivery:
    known = contract.header_map()
    try:
        sheet = pd.read_excel(path, header=None, dtype=str, engine="openpyxl", nrows=15)
    except Exception as exc:
        raise FileRejected("unreadable", f"无法读取 Excel 文件 {path.name}：{exc}") from exc
    header_row = None
    for i, row in sheet.iterrows():  # a title row above the header is common
        cells = [normalise_header(v) for v in row.dropna()]
        if cells and sum(c in known for c in cells) >= max(2, len(cells) // 2):
            header_row = int(str(i))
            break
    if header_row is None:
        raise FileRejected("missing_columns", f"{path.name} 前 15 行中找不到表头")
    frame = pd.read_excel(path, header=header_row, dtype=str, engine="openpyxl")
    frame = frame.dropna(how="all")
    # Excel rows are 1-based and the header occupies row header_row + 1.
    rows = pd.Series(frame.index + header_row + 2, index=frame.index)
    return RawDelivery(frame, rows, {"format": "XLSX", "header_row": header_row + 1})
