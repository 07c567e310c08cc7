"""Write sample files the way departments' tools export them, byte for byte reproducible.

Everything that would carry the clock (zip member times, the DBF header date, GeoPackage
last_change, XLSX document properties) is pinned to the export time.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from pipelines.sample.xlsx import workbook_parts

EXPORT_TIME = (2026, 11, 1, 9, 0, 0)
_EXPORT_ISO = "2026-11-01T09:00:00Z"


def _multi(frame: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Reprojected copy with every polygon wrapped as a MultiPolygon (never repaired)."""
    out = frame.to_crs(crs)
    geoms = np.asarray(out.geometry.values)
    single = np.flatnonzero(shapely.get_type_id(geoms) == shapely.GeometryType.POLYGON)
    geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(single.size))
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))


@contextmanager
def _gdal_clock() -> Iterator[None]:
    """GDAL stamps GeoPackage contents with the current time unless OGR_CURRENT_DATE is set."""
    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": _EXPORT_ISO})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str, crs: str) -> None:
    path.unlink(missing_ok=True)
    with _gdal_clock():
        pyogrio.write_dataframe(
            _multi(frame, crs), path, layer=layer, driver="GPKG", geometry_type="MultiPolygon"
        )


def _zip(path: Path, members: Sequence[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=EXPORT_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)


def write_shapefile_zip(
    frame: gpd.GeoDataFrame, path: Path, layer: str, crs: str, encoding: str
) -> None:
    """One zipped .shp set with .prj but no .cpg: the DBF's encoding is not stated anywhere,
    as in many real exports (GDAL leaves the DBF language-driver byte at 0 too)."""
    with tempfile.TemporaryDirectory() as tmp:
        shp = Path(tmp) / f"{layer}.shp"
        pyogrio.write_dataframe(
            _multi(frame, crs),
            shp,
            driver="ESRI Shapefile",
            encoding=encoding,
            geometry_type="MultiPolygon",
            layer_options={"DBF_DATE_LAST_UPDATE": "2026-11-01"},
        )
        members = [
            (f"{layer}{ext}", (Path(tmp) / f"{layer}{ext}").read_bytes())
            for ext in (".shp", ".shx", ".dbf", ".prj")
        ]
    _zip(path, members)


def write_xlsx(frame: pd.DataFrame, path: Path, title: str, header: Sequence[str]) -> None:
    """Title row merged over the table, header of labels on row 2, data from row 3."""
    _zip(path, workbook_parts(title, header, frame, _EXPORT_ISO))


def write_csv(frame: pd.DataFrame, path: Path, header: Sequence[str], encoding: str) -> None:
    """Datetimes as YYYY-MM-DD HH:MM:SS, blanks for missing values, CRLF as Windows exports."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d %H:%M:%S")
    out.columns = list(header)
    out.to_csv(path, index=False, encoding=encoding, lineterminator="\r\n", na_rep="")
