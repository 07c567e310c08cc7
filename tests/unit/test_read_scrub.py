"""Free text (NRMS, SQDZ) and every stored reason are scrubbed of phone and ID numbers however
they are grouped; what is not a number of a person is left alone."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.pii import protect_columns, scrub_free_text


@pytest.mark.parametrize(("text", "masked"), [
    ("来电139.1234.0000反映", "来电139****0000反映"),
    ("来电139 1234 0000反映", "来电139****0000反映"),
    ("来电139-1234-0000反映", "来电139****0000反映"),
    ("来电１３９－１２３４－００００", "来电139****0000"),
    ("+86 139 1234 0000", "139****0000"),
    ("座机0898-66123456", "座机********3456"),
    ("座机(0898)66123456", "座机********3456"),
    ("座机（0898）66123456", "座机********3456"),
    ("座机0898 6612 3456", "座机********3456"),
    ("北京010-62345678", "北京*******5678"),
    ("证件460105199001011234", "证件460105********1234"),
    ("证件460105 19900101 123X", "证件460105********123X"),
    ("证件4601 0519 9001 0112 3x", "证件460105********123X"),
    ("老证件460105900101123", "老证件460105********1123"),
])
def test_numbers_however_grouped_are_masked(text: str, masked: str) -> None:
    assert scrub_free_text(text) == masked


@pytest.mark.parametrize("text", [
    "第 3 行有 25 列，表头有 24 列", "2024-05-31 09:30:00", "2024-05-31 至 2024-06-01",
    "文件 4294967296 字节", "坐标 110.123456,20.123456", "金额 12345678 元", "编号 GBZ4601052024001",
])
def test_what_is_not_a_persons_number_is_left_alone(text: str) -> None:
    assert scrub_free_text(text) == text


def test_free_text_columns_are_scrubbed_whatever_the_grouping() -> None:
    frame = pd.DataFrame({"nrms": ["电话139.1234.0000", "座机(0898)66123456", "无号码", None]})
    out = protect_columns(frame, {}, b"k", ["nrms"])
    assert out["nrms"].tolist()[:3] == ["电话139****0000", "座机********3456", "无号码"]
    assert pd.isna(out["nrms"].iloc[3])
