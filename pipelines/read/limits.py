"""Every limit a dropped file is held to, in one place, each with the reason for its value.

A file over a limit is refused whole (rule `too_large`) with the limit named in Chinese; each
limit is checked before the memory it guards is committed: sizes from the file system and the
zip directory, sheet dimensions and cell counts from a streaming pass over the sheet XML,
feature counts from the GeoPackage's own tables, line lengths from a pass over the bytes.
What no check foresees is caught by the parse running in a child process under a memory
ceiling and a time limit (`pipelines.read.isolate`, which also holds how the ceiling is
enforced): a clean rejection, never a dead worker.

Environment (read when a file is opened, so a deployment may change it without a release):
  YITU_READ_MEMORY_MB       memory ceiling of the child that parses one file (default 1536)
  YITU_READ_SECONDS         wall-clock limit of that child (default 600)
  YITU_READ_QUERY_SECONDS   time budget of one SQLite query on a GeoPackage (default 20)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MIB = 1024**2

# -- the file as dropped ----------------------------------------------------------------------
# A parse holds the parsed table beside the file (a 240 MB CSV: 850 MB peak, 600 MB of it
# anonymous memory): 512 MiB is about the most the default memory ceiling fits, and five times
# the largest real delivery seen (a province's year of 12345 orders, ~110 MB of CSV).
MAX_FILE_BYTES = 512 * MIB
# Rows (records, features) of one file: a province's year of hotline orders is ~1 million;
# validation and the answer workbook grow with the row count, so more is split by the sender.
MAX_ROWS = 2_000_000
# Columns of a table: the widest contract has fewer than 40 fields; a sheet wider than this is
# not a delivery (and Excel's 16384 would make every row a 16384-cell list).
MAX_COLUMNS = 500

# -- zip archives (zipped Shapefile, and XLSX, which is a zip) --------------------------------
# Members in one archive: a Shapefile set has at most ~12 parts (.shp .shx .dbf .prj .cpg .sbn
# .sbx .qix .xml ...), a workbook tens to a few hundred parts. Counted from the end-of-central-
# directory record before Python's zipfile builds one object per member.
ZIP_MAX_MEMBERS = 1_000
# Unpacked bytes in total, declared (zip directory) and actual (counted while unpacking).
MAX_UNPACKED_BYTES = 4 * 1024**3
# Compression ratio of a large member: real Shapefile parts compress 5-50x, bombs 1000x+.
MAX_RATIO = 200
RATIO_CHECKED_FROM_BYTES = 8 * MIB  # small parts (an all-blank .dbf) may compress far more
COPY_CHUNK_BYTES = MIB

# -- XLSX ------------------------------------------------------------------------------------
# The sheet's XML, as the zip directory declares it (zipfile refuses a member longer than its
# declared size): 6 million cells take ~300 MB of XML; a 1.3 GB sheet is refused unread.
XLSX_MAX_SHEET_XML_BYTES = 512 * MIB
# The shared-strings part: calamine keeps every string in memory, and copies it into each cell.
XLSX_MAX_SHARED_STRINGS_BYTES = 128 * MIB
# Cells, counted in the sheet XML; and the sheet's area (rows x columns between its first and
# last cell), which the parser allocates densely: one cell at A1 and one at XFD1048576 are two
# cells but 17 billion slots. ~90 bytes a cell in the parser: 6 million fit the ceiling with
# the frame built beside it (300 000 rows of 20 columns).
XLSX_MAX_CELLS = 6_000_000

# -- CSV -------------------------------------------------------------------------------------
# One physical line: the longest real record (a work order whose description fills pages) is
# tens of KB; a 200 MB line is not a record.
CSV_MAX_LINE_BYTES = 1 * MIB
# One field, in characters, after parsing (a quoted field may span lines): a line's worth, so a
# long line within its limit always loads.
CSV_MAX_FIELD_CHARS = 1_000_000
# pyarrow's parse block: must hold the header search window and any one record.
CSV_BLOCK_BYTES = 32 * MIB

# -- vector formats ---------------------------------------------------------------------------
# Vertices of one feature (a row failure, not a file rejection): more than any real parcel or
# project boundary has; beyond this a feature is a denial of service.
MAX_VERTICES_PER_FEATURE = 1_000_000
# Nesting depth of a GeoJSON document: a FeatureCollection of MultiPolygons is 8 deep, nested
# properties add a few; deep nesting is how JSON parsers are made to overflow their stack.
GEOJSON_MAX_DEPTH = 64
# Layers in one GeoPackage: departments send one to a few; GDAL opens every one it lists.
GPKG_MAX_LAYERS = 100
# The SQLite heap while counting a GeoPackage layer: a view's query may not hoard memory.
GPKG_QUERY_HEAP_BYTES = 256 * MIB


@dataclass(frozen=True)
class Budget:
    """What the child parsing one file may use; read from the environment by the parent."""

    memory_mb: int = 1536
    seconds: float = 600.0
    query_seconds: float = 20.0

    @classmethod
    def from_env(cls) -> Budget:
        return cls(memory_mb=int(_positive("YITU_READ_MEMORY_MB", cls.memory_mb)),
                   seconds=_positive("YITU_READ_SECONDS", cls.seconds),
                   query_seconds=_positive("YITU_READ_QUERY_SECONDS", cls.query_seconds))


def _positive(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = default
    return value if value > 0 else default


def size_zh(n: float) -> str:
    """A byte count as a clerk reads it: 512 MB, 1.3 GB."""
    for unit, size in (("GB", 1024**3), ("MB", MIB), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
    return f"{int(n)} 字节"
