"""Write corpus files the way departments' tools do, byte for byte reproducible.

GDAL (through pyogrio) writes the Shapefiles, GeoPackages and GeoJSON, pandas the CSVs,
openpyxl the XLSX, zipfile the zips; everything that would carry the clock is pinned.
"""

from __future__ import annotations

import io
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import shapely

# GDAL stamps GeoPackage contents with the current time unless OGR_CURRENT_DATE is set
from pipelines.sample.writers import _gdal_clock as gdal_clock

EXPORT_TIME = (2026, 11, 1, 9, 0, 0)
EXPORT_ISO = "2026-11-01T09:00:00Z"  # as pipelines.sample.writers pins GeoPackages
SHP_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


def as_multi(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    geoms = np.asarray(frame.geometry.values, dtype=object)
    single = shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON
    geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def zip_members(path: Path, members: Sequence[tuple[str | zipfile.ZipInfo, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name)
            info.date_time = EXPORT_TIME
            info.compress_type = zipfile.ZIP_DEFLATED
            if not info.external_attr:
                info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def shapefile_parts(frame: gpd.GeoDataFrame, layer: str, encoding: str,
                    prj: bool = True, cpg: str | None = None) -> list[tuple[str, bytes]]:
    """The files of one Shapefile set. GDAL writes a .cpg of its own; it is replaced by what
    the case says (`cpg`) or left out (None), as exports without one are common."""
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / f"{layer}.shp"
        pyogrio.write_dataframe(as_multi(frame), shp, driver="ESRI Shapefile", encoding=encoding,
                                geometry_type="MultiPolygon",
                                layer_options={"DBF_DATE_LAST_UPDATE": "2026-11-01"})
        parts = {ext: (Path(tmp) / f"{layer}{ext}").read_bytes() for ext in SHP_PARTS
                 if (Path(tmp) / f"{layer}{ext}").exists()}
    parts.pop(".cpg", None)
    if not prj:
        parts.pop(".prj", None)
    if cpg is not None:
        parts[".cpg"] = cpg.encode("ascii")
    return [(f"{layer}{ext}", data) for ext, data in parts.items()]


def write_shapefile_zip(frame: gpd.GeoDataFrame, path: Path, layer: str, encoding: str,
                        prj: bool = True, cpg: str | None = None) -> None:
    zip_members(path, shapefile_parts(frame, layer, encoding, prj, cpg))


def write_gpkg(path: Path, layers: Sequence[tuple[str, gpd.GeoDataFrame]]) -> None:
    path.unlink(missing_ok=True)
    with gdal_clock():
        for name, frame in layers:
            multi = shapely.get_type_id(np.asarray(frame.geometry.values, dtype=object)) >= 3
            pyogrio.write_dataframe(as_multi(frame) if multi.all() else frame, path, layer=name,
                                    driver="GPKG", append=path.exists(),
                                    layer_options={"SPATIAL_INDEX": "NO"},
                                    geometry_type="MultiPolygon" if multi.all() else None)
    # GDAL's 4 KiB pages leave a 5-row GeoPackage at ~70 KiB; 1 KiB pages keep the corpus small
    con = sqlite3.connect(path)
    con.execute("PRAGMA page_size = 1024")
    con.execute("VACUUM")
    con.close()


def write_geojson(frame: gpd.GeoDataFrame, path: Path) -> None:
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(as_multi(frame.to_crs(4326)), path, driver="GeoJSON",
                            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"})


def write_csv(frame: pd.DataFrame, path: Path, encoding: str, title: str | None = None) -> None:
    """CRLF and blanks for missing values, as Windows exports; a title line when asked."""
    text = frame.to_csv(index=False, lineterminator="\r\n", na_rep="")
    if title is not None:
        text = title + "," * (len(frame.columns) - 1) + "\r\n" + text
    path.write_bytes(text.encode(encoding))


def pin_xlsx(data: bytes, path: Path) -> None:
    """openpyxl stamps docProps/core.xml with the save time and zip members with the clock:
    rewrite both with the export time."""
    members: list[tuple[str | zipfile.ZipInfo, bytes]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            body = zf.read(info)
            if info.filename == "docProps/core.xml":
                body = re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", EXPORT_ISO.encode(), body)
            members.append((info.filename, body))
    zip_members(path, members)


def write_xlsx(path: Path, rows: Sequence[Sequence[object]], merged: Sequence[str] = ()) -> None:
    """One sheet, the cells exactly as given (str stays text, int/float stay numbers)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Sheet1"
    for row in rows:
        ws.append(list(row))
    for rng in merged:
        ws.merge_cells(rng)
    buf = io.BytesIO()
    wb.save(buf)
    pin_xlsx(buf.getvalue(), path)
