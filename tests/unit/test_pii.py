"""Personal data: tokens link, masks display, nothing leaves in clear text."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pandas as pd
import pytest

from pipelines.pii import (
    PiiKeyMissing,
    load_key,
    mask_id_number,
    mask_phone,
    normalise_id_number,
    normalise_name,
    normalise_phone,
    protect_columns,
    scrub_free_text,
    token,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


@pytest.mark.parametrize(
    "raw",
    [
        "13812341234",
        "+86 138-1234-1234",
        "0086 13812341234",
        "8613812341234",
        "１３８１２３４１２３４",
        "(138) 1234 1234",
    ],
)
def test_phone_variants_normalise_and_link(raw: str) -> None:
    assert normalise_phone(raw) == "13812341234"
    assert token(raw, "phone", KEY) == token("13812341234", "phone", KEY)


def test_landline_keeps_its_digits() -> None:
    assert normalise_phone("0898-6612 3456") == "089866123456"
    assert normalise_phone("86123456") == "86123456"  # 86 is stripped only before a mobile


def test_tokens_are_stable_keyed_and_separated_by_kind() -> None:
    t = token("13812341234", "phone", KEY)
    assert len(t) == 64 and int(t, 16) >= 0
    assert t == token("13812341234", "phone", KEY)
    assert t != token("13812341234", "phone", OTHER_KEY)
    assert t != token("13812341234", "id_number", KEY)
    with pytest.raises(ValueError, match="unknown personal-data kind"):
        token("x", "email", KEY)


@pytest.mark.parametrize("key", [b"k" * 32, b"short key 16 chr", bytes(range(256)) * 2])
def test_token_is_standard_hmac_sha256(key: bytes) -> None:
    # the fast path precomputes the HMAC pads; it must equal the standard library's HMAC
    expected = hmac.new(key, b"phone\x1f13812341234", hashlib.sha256).hexdigest()
    assert token("+86 138 1234 1234", "phone", key) == expected


def test_id_and_name_normalisation() -> None:
    assert normalise_id_number(" 46010219900307123x ") == "46010219900307123X"
    assert normalise_id_number("４６０１０２１９９００３０７１２３ｘ") == "46010219900307123X"
    assert token("46010219900307123x", "id_number", KEY) == token(
        "46010219900307123X", "id_number", KEY
    )
    assert normalise_name(" 张　 三 ") == "张 三"  # ideographic space is NFKC'd, then collapsed


def test_masks() -> None:
    names = protect_columns(pd.DataFrame({"n": ["张三", "李小明", " 欧阳娜娜 "]}), {"n": "name"},
                            KEY, [])
    assert list(names["n_masked"]) == ["张*", "李**", "欧阳**"]
    assert mask_phone("+86 13812341234") == "138****1234"
    assert mask_phone("0898-66123456") == "********3456"
    assert mask_id_number("46010219900307123x") == "460102********123X"


def test_scrub_free_text() -> None:
    text = (
        "来电人+86 138-1234-1234反映，身份证４６０１０２１９９００３０７１２３Ｘ，"
        "旧证号460102900307123，门牌12号，订单2023123456789012345，电话13912345678。"
    )
    assert scrub_free_text(text) == (
        "来电人138****1234反映，身份证460102********123X，"
        "旧证号460102********7123，门牌12号，订单2023123456789012345，电话139****5678。"
    )


def test_protect_columns_drops_clear_text_and_keeps_nulls() -> None:
    df = pd.DataFrame(
        {
            "GDBH": ["A1", "A2", "A3"],
            "LDRXM": ["张三", None, "欧阳娜娜"],
            "LDRDH": ["+8613812341234", "13812341234", None],
            "LDRZJHM": [None, "46010219900307123x", "  "],
            "NRMS": ["请回电13912345678", None, "无"],
        }
    )
    pii = {"LDRXM": "name", "LDRDH": "phone", "LDRZJHM": "id_number", "LXDH": "phone"}
    out = protect_columns(df, pii, KEY, ["NRMS", "SQDZ"])
    assert list(out.columns) == [
        "GDBH",
        "LDRXM_token",
        "LDRXM_masked",
        "LDRDH_token",
        "LDRDH_masked",
        "LDRZJHM_token",
        "LDRZJHM_masked",
        "NRMS",
    ]
    assert out["LDRXM_masked"].tolist()[::2] == ["张*", "欧阳**"]
    assert out["LDRXM_token"].isna().tolist() == [False, True, False]
    phone_tokens = out["LDRDH_token"].tolist()
    assert phone_tokens[0] == phone_tokens[1]  # +86 or not: one caller
    assert out["LDRDH_masked"].tolist()[:2] == ["138****1234", "138****1234"]
    assert out["LDRDH_token"].isna().tolist() == [False, False, True]
    # a blank ID stays null: a token of "" would link everyone who left it empty
    assert out["LDRZJHM_token"].isna().tolist() == [True, False, True]
    assert out["NRMS"].tolist()[0] == "请回电139****5678" and pd.isna(out["NRMS"][1])
    clear = {"张三", "欧阳娜娜", "13812341234", "+8613812341234", "46010219900307123x"}
    assert not clear & set(out.astype(str).to_numpy().ravel())
    assert "LDRXM" in df.columns  # the input frame is left alone


def test_protect_columns_numeric_phone_column() -> None:
    # spreadsheet readers give phone numbers as floats when a cell is empty
    df = pd.DataFrame({"LXDH": [13812341234.0, None]})
    out = protect_columns(df, {"LXDH": "phone"}, KEY, [])
    assert out["LXDH_masked"].tolist()[0] == "138****1234"
    assert out.loc[0, "LXDH_token"] == token("13812341234", "phone", KEY)


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    home = tmp_path / "var"
    key = load_key(home, None, allow_generate=True)
    assert len(key) == 32
    assert stat.S_IMODE((home / "pii.key").stat().st_mode) == 0o600
    assert load_key(home, None, allow_generate=False) == key
    assert load_key(home, "", allow_generate=False) == key  # an empty env var is unset
    assert [p.name for p in home.iterdir()] == ["pii.key"]  # no temporary file left


def test_configured_key_wins(tmp_path: Path) -> None:
    load_key(tmp_path, None, allow_generate=True)
    hex_key = "ab" * 32
    assert load_key(tmp_path, hex_key, allow_generate=False) == bytes.fromhex(hex_key)
    assert load_key(tmp_path, "a long passphrase", allow_generate=False) == b"a long passphrase"
    with pytest.raises(PiiKeyMissing, match="too short"):
        load_key(tmp_path, "short", allow_generate=False)


def test_missing_key_is_an_error_when_not_allowed(tmp_path: Path) -> None:
    with pytest.raises(PiiKeyMissing, match="YITU_PII_KEY"):
        load_key(tmp_path, None, allow_generate=False)
    assert not (tmp_path / "pii.key").exists()
