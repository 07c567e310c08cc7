"""Open a dropped file whatever its format and give back its rows with their row numbers.

Formats departments really send: zipped Shapefile, GeoPackage, GeoJSON, CSV and XLSX.
Values stay text here; the contract types them in `conform`.

This process does what is cheap and bounded (the path, the size, the zip directory, the zip
members unpacked chunk by chunk); the parse itself runs in a child under a memory ceiling and
a time limit (`isolate`), each reader measuring its file against `limits` first.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipelines.contracts import Contract
from pipelines.read import csv_reader, isolate, limits, safety, spreadsheet, vector, xlsx_parts
from pipelines.read.delivery import RawDelivery, machine_fault
from pipelines.read.errors import FileRejected, display_name, library_detail, too_large

__all__ = ["RawDelivery", "machine_fault", "open_delivery"]
log = logging.getLogger(__name__)


def open_delivery(path: Path, contract: Contract, workdir: Path, *,
                  budget: limits.Budget | None = None) -> RawDelivery:
    """`budget` (memory, time) defaults to what the environment says (`limits.Budget`)."""
    safety.disable_gdal_network()
    safety.check_local_path(path)
    name = display_name(path)
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("file_empty", f"文件 {name} 为空")
    if size > limits.MAX_FILE_BYTES:
        raise too_large(name, f"有 {limits.size_zh(size)}",
                        f"每个文件 {limits.size_zh(limits.MAX_FILE_BYTES)}")
    try:
        return _open(path, contract, workdir, budget or limits.Budget.from_env())
    except FileRejected as exc:
        if exc.detail:  # what a library said: for the engineers, never the department
            log.warning("%s (%s): refused [%s]: %s", name, path.name, exc.rule, exc.detail)
        raise
    except Exception as exc:  # a reader library choking on a malformed file: still an answer
        if machine_fault(exc):
            raise  # our disk, memory or permissions, not the department's file: the task fails
        log.warning("%s (%s): unreadable", name, path.name, exc_info=True)
        raise FileRejected("unreadable", f"无法读取 {name}（文件损坏或结构有误）：请确认文件能在 "
                           "Excel/WPS 或 QGIS 中正常打开、扩展名与格式一致后重新报送",
                           detail=library_detail(exc)) from exc


def _open(path: Path, contract: Contract, workdir: Path, budget: limits.Budget) -> RawDelivery:
    suffix = path.suffix.lower()
    name = display_name(path)
    if suffix == ".zip":  # what it declares checked here; unpacked by the child, as it reads
        safety.check_zip(path, name)
        return isolate.parse(vector.read_zipped_shapefile, (path, workdir, contract, name),
                             workdir, budget, name)
    if suffix in (".gpkg", ".geojson", ".json"):
        return isolate.parse(vector.read_vector, (path, contract, name, budget.query_seconds),
                             workdir, budget, name)
    if suffix == ".csv":
        return isolate.parse(csv_reader.read_csv, (path, contract, name), workdir, budget, name)
    if suffix == ".xlsx":
        with safety.open_zip(path, name) as zf:  # an XLSX is a zip: the same bomb limits apply
            xlsx_parts.check_declared_sizes(zf, name)
            safety.reject_xml_dtd(zf, name)
        return isolate.parse(spreadsheet.read_xlsx, (path, contract, name), workdir, budget,
                             name)
    raise FileRejected("format", f"不支持的文件格式 {suffix or '(无扩展名)'}：请报送 zip(Shapefile)、"
                       "GeoPackage、GeoJSON、CSV 或 XLSX")
