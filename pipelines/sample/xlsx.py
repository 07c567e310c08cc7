"""A minimal XLSX (SpreadsheetML) writer for one sheet: a merged title row above a table.

openpyxl's write-only mode spends ~40 us per cell in its XML layer without lxml (not a
dependency here), which made `--scale 100` take minutes; the handful of parts a one-sheet
workbook needs are simple enough to write directly, a column at a time (a province's
register is millions of cells). Strings are inline text cells (codes keep their leading
zeros), dates are date-formatted serial numbers, as Excel saves them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from xml.sax.saxutils import escape

import numpy as np
import numpy.typing as npt
import pandas as pd
from openpyxl.utils import get_column_letter

ObjectArray = npt.NDArray[np.object_]

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument"
_EXCEL_EPOCH_64 = np.datetime64("1899-12-30", "D")  # serial 1 = 1900-01-01 (Lotus' leap bug)
_DATE_STYLE, _TITLE_STYLE = 1, 2

_CONTENT_TYPES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">\
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>\
<Default Extension="xml" ContentType="application/xml"/>\
<Override PartName="/xl/workbook.xml" ContentType="{_CT}.spreadsheetml.sheet.main+xml"/>\
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.spreadsheetml.worksheet+xml"/>\
<Override PartName="/xl/styles.xml" ContentType="{_CT}.spreadsheetml.styles+xml"/>\
<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>\
</Types>"""
_ROOT_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_PKG_REL}">\
<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>\
<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/\
metadata/core-properties" Target="docProps/core.xml"/>\
</Relationships>"""
_WORKBOOK_RELS = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="{_PKG_REL}">\
<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>\
<Relationship Id="rId2" Type="{_REL}/styles" Target="styles.xml"/>\
</Relationships>"""
# Style 0 plain, 1 date (yyyy-mm-dd), 2 the bold centred title.
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN}">\
<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/></numFmts>\
<fonts count="2"><font><sz val="11"/><name val="等线"/></font>\
<font><b/><sz val="14"/><name val="等线"/></font></fonts>\
<fills count="2"><fill><patternFill patternType="none"/></fill>\
<fill><patternFill patternType="gray125"/></fill></fills>\
<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>\
<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>\
<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment horizontal="center"/></xf></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>\
</styleSheet>"""


def _column(i: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    return str(get_column_letter(i + 1))


def _text_cell(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def _cells(column: str, rows: npt.NDArray[np.object_], values: pd.Series) -> ObjectArray:
    """The cells of one column, all rows at once: "" where the value is missing (an empty
    cell is simply absent)."""
    empty = np.full(len(values), "", dtype=object)
    ref = f'<c r="{column}' + rows
    if pd.api.types.is_datetime64_any_dtype(values):
        days = (values.to_numpy("datetime64[D]") - _EXCEL_EPOCH_64).astype(np.int64)
        cell = ref + f'" s="{_DATE_STYLE}"><v>' + days.astype(str).astype(object) + "</v></c>"
        return np.where(values.isna().to_numpy(), empty, cell)
    if pd.api.types.is_bool_dtype(values):
        raise TypeError("booleans are not needed here; write text")
    if pd.api.types.is_integer_dtype(values):
        whole: ObjectArray = ref + '"><v>' + values.to_numpy().astype(str).astype(object) + "</v></c>"
        return whole
    if pd.api.types.is_float_dtype(values):
        number = values.to_numpy(np.float64)
        cell = ref + '"><v>' + number.astype(str).astype(object) + "</v></c>"
        return np.where(np.isnan(number), empty, cell)
    text = values.astype(object)
    missing = text.isna().to_numpy() | (text == "").to_numpy()
    if any(isinstance(v, dt.date | dt.datetime) for v in text[~missing].head(1)):
        raise TypeError("dates are written from a datetime64 column")
    clean = text.where(~missing, "").astype(str)
    for raw, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        clean = clean.str.replace(raw, entity, regex=False)
    cell = ref + '" t="inlineStr"><is><t>' + clean.to_numpy(dtype=object) + "</t></is></c>"
    return np.where(missing, empty, cell)


def frame_rows(frame: pd.DataFrame, first_row: int) -> str:
    """The <row> elements of a table, from `first_row`: strings as inline text (codes keep
    their leading zeros), datetimes as date-formatted serial numbers, numbers as numbers;
    built a column at a time."""
    rows = np.arange(first_row, first_row + len(frame)).astype(str).astype(object)
    line = '<row r="' + rows + '">'
    for i, name in enumerate(frame.columns):
        line = line + _cells(_column(i), rows, frame[name])
    return "".join((line + "</row>").tolist())


def _sheet(title: str, header: Sequence[str], body: str, last_row: int) -> str:
    cols = [_column(i) for i in range(len(header))]
    head = (
        f'<row r="1"><c r="A1" t="inlineStr" s="{_TITLE_STYLE}"><is><t>{escape(title)}</t></is>'
        "</c></row>"
        '<row r="2">'
        + "".join(_text_cell(f"{c}2", h) for c, h in zip(cols, header, strict=True) if h)
        + "</row>"
    )
    last = cols[-1]
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}">'
        f'<dimension ref="A1:{last}{last_row}"/>'
        f'<cols><col min="1" max="{len(cols)}" width="20" customWidth="1"/></cols>'
        f"<sheetData>{head}{body}</sheetData>"
        f'<mergeCells count="1"><mergeCell ref="A1:{last}1"/></mergeCells></worksheet>'
    )


def workbook_parts(
    title: str, header: Sequence[str], frame: pd.DataFrame, saved_at: str
) -> list[tuple[str, bytes]]:
    """The zip members of a one-sheet workbook, in a fixed order."""
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        f'<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    core = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
        'core-properties" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f'<dcterms:created xsi:type="dcterms:W3CDTF">{saved_at}</dcterms:created>'
        f'<dcterms:modified xsi:type="dcterms:W3CDTF">{saved_at}</dcterms:modified>'
        "</cp:coreProperties>"
    )
    parts = {
        "[Content_Types].xml": _CONTENT_TYPES,
        "_rels/.rels": _ROOT_RELS,
        "docProps/core.xml": core,
        "xl/workbook.xml": workbook,
        "xl/_rels/workbook.xml.rels": _WORKBOOK_RELS,
        "xl/styles.xml": _STYLES,
        "xl/worksheets/sheet1.xml": _sheet(title, header, frame_rows(frame, 3), len(frame) + 2),
    }
    return [(name, text.encode("utf-8")) for name, text in parts.items()]
