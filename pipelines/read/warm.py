"""Imported by the reading children's forkserver only: run each reader's machinery once on a
tiny input, so that what is loaded on first use (the CJK codecs, pyarrow's compute kernels,
pandas' Arrow arrays, shapely's WKB, PROJ's database) is loaded once in the server, not again
in every child it forks (0.3 s a file otherwise)."""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyproj
import shapely

from pipelines.read import csv_reader, frames, spreadsheet, vector  # noqa: F401  # loaded here
from pipelines.read.delivery import RawDelivery


def warm_up() -> None:
    for encoding in (*csv_reader.LEGACY_ENCODINGS, "utf-8"):
        codecs.getincrementaldecoder(encoding)().decode("表头".encode(encoding))
    text = pa.py_buffer("编号,内容\r\n1,\"多\r\n行\"\r\n".encode())
    table = csv_reader._parse(text, 0, 2, "warm.csv")
    csv_reader._check_sizes(table, ["编号", "内容"], 0, "warm.csv")
    frame = gpd.GeoDataFrame(frames.text_frame(table.columns, ["编号", "内容"]),
                             geometry=[shapely.Point(110.3, 20.0)],
                             crs=pyproj.CRS.from_epsg(4490))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "warm.arrow"
        frames.save(RawDelivery(frame, pd.Series([2]), {}), out)
        frames.load(out, {})


warm_up()
