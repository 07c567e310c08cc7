"""Property-based fuzzing of the readers and the code validators (hypothesis).

Readers: whatever the bytes, `open_delivery` + `conform` (the parse in its child, under the
memory ceiling) either give rows or raise FileRejected with a Chinese reason free of paths
and library text; nothing else escapes. Well-formed CSV and XLSX with quotes, newlines and
NULs in their cells, in every accepted encoding, give back exactly the cells written.
Code validators: the vectorised checks agree with the scalar ones.

Examples are few and derandomized, so CI runs the same short search every time.
"""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import xlsxwriter
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipelines.contracts import load_contract, load_region
from pipelines.read.conform import conform
from pipelines.read.errors import FileRejected
from pipelines.read.formats import open_delivery
from pipelines.read.limits import Budget
from pipelines.validate.codes import (
    ID_CHECK,
    USCC_ALPHABET,
    id_card_ok,
    is_valid_id_card,
    is_valid_uscc,
    uscc_ok,
)
from tests.unit.test_read_hostile import CJK, ENGLISH_SENTENCE, NEVER

FAST = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BUDGET = Budget(memory_mb=1536, seconds=60, query_seconds=2)
KEY = b"fuzz-key-0123456789abcdef0123456"
HEADER = ["GDBH", "GDLX", "NRMS"]
# what clerks type and what breaks parsers: separators, quotes, both newlines, NUL, CJK
CELL = st.text(alphabet=st.sampled_from(list('ab 1,;"\'\n\r\t\x00\\中文工单，。“”')), max_size=24)


def _answer(data: bytes, name: str, dataset: str = "complaints") -> pd.DataFrame | None:
    """The conformed rows, or None when refused (the reason checked); nothing else escapes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{dataset}-20261101T090000000000-deadbeef__{name}"
        path.write_bytes(data)
        contract = load_contract(dataset)
        try:
            raw = open_delivery(path, contract, Path(tmp) / "work", budget=BUDGET)
            return conform(raw, contract, load_region(), KEY).frame
        except FileRejected as err:
            assert CJK.search(err.message), err.message
            assert not ENGLISH_SENTENCE.search(err.message), err.message
            assert not any(w in err.message for w in NEVER), err.message
            return None


def _raw_frame(data: bytes, name: str, dataset: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        return open_delivery(path, load_contract(dataset), Path(tmp) / "work",
                             budget=BUDGET).frame


def _as_read(values: pd.Series) -> list[str | None]:
    return [None if pd.isna(v) else str(v) for v in values]


@FAST
@given(st.binary(max_size=2048))
@example(b"GDBH,GDLX\r\nA,\x00\r\n")
@example(b'GDBH,GDLX\r\n"A\r\n')
@example(b"\xef\xbb\xbf\xff\xfe")
def test_csv_reader_any_bytes(data: bytes) -> None:
    _answer(data, "工单.csv")


@FAST
@given(st.lists(CELL, min_size=1, max_size=6),
       st.sampled_from(["utf-8", "utf-8-sig", "gbk", "gb18030"]))
def test_csv_cells_come_back_as_written(cells: list[str], encoding: str) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows([f"K{i}", "投诉", cell] for i, cell in enumerate(cells))
    frame = _raw_frame(out.getvalue().encode(encoding), "工单.csv", "complaints")
    assert _as_read(frame["NRMS"]) == [c or None for c in cells]
    _answer(out.getvalue().encode(encoding), "工单.csv")


def _xlsx(rows: list[list[object]]) -> bytes:
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write_string(r, c, value) if isinstance(value, str) else sheet.write(r, c, value)
    book.close()
    return buf.getvalue()


@FAST
@given(st.lists(CELL, min_size=1, max_size=6))
def test_xlsx_cells_come_back_as_written(cells: list[str]) -> None:
    rows = [HEADER, *([f"K{i}", "投诉", cell] for i, cell in enumerate(cells))]
    frame = _raw_frame(_xlsx(rows), "工单.xlsx", "complaints")
    written = [c or None for c in cells]
    kept = [c for c in written if c is not None] if len(frame) < len(cells) else written
    assert _as_read(frame["NRMS"]) == kept


@FAST
@given(st.lists(st.tuples(st.integers(0, 4000), st.binary(min_size=1, max_size=8)),
                min_size=1, max_size=6))
def test_xlsx_reader_damaged_bytes(damage: list[tuple[int, bytes]]) -> None:
    data = bytearray(_xlsx([HEADER, ["K1", "投诉", "内容"], ["K2", "咨询", "内容"]]))
    for at, patch in damage:
        at %= len(data)
        data[at:at + len(patch)] = patch
    _answer(bytes(data), "工单.xlsx")


@FAST
@given(st.binary(max_size=2048))
def test_xlsx_reader_any_bytes_in_a_zip(data: bytes) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", data)
        zf.writestr("xl/workbook.xml", data)
        zf.writestr("xl/worksheets/sheet1.xml", data)
    _answer(buf.getvalue(), "工单.xlsx")


# -- code validators: the vectorised checks agree with the scalar ones ----------------------
CODE_CHARS = USCC_ALPHABET + "IOSVZx " + ID_CHECK


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.text(alphabet=st.sampled_from(CODE_CHARS), min_size=16, max_size=19))
@example("91110000600037341L")
@example("91110000600037341N")
@example("11010519491231002X")
@example("11010519491231002x")
def test_code_checks_agree_on_codes_as_typed(code: str) -> None:
    assert bool(uscc_ok(pd.Series([code]))[0]) == is_valid_uscc(code)
    normalised = code.strip().upper()
    assert bool(id_card_ok(pd.Series([code]))[0]) == is_valid_id_card(normalised)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.text(max_size=20))
@example("91١١0000600037341L")  # Arabic-Indic digits: IndexError in uscc_ok
@example("１１０１０５１９４９１２３１００２X")  # full-width digits: the two checks disagree
@example("91110000600037341L\n")
def test_code_checks_agree_on_any_text(code: str) -> None:
    assert bool(uscc_ok(pd.Series([code]))[0]) == is_valid_uscc(code)
    normalised = code.strip().upper()
    assert bool(id_card_ok(pd.Series([code]))[0]) == is_valid_id_card(normalised)
