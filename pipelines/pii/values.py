"""Personal values made safe to keep: normalised, tokenised, masked, scrubbed from free text.

Each personal field becomes a keyed token (HMAC-SHA256, for linking the same person across
datasets) and a masked display form (138****1234). Free text (NRMS, SQDZ) has phone and ID
numbers inside it replaced by their masked forms. The key lives outside the warehouse: a
token without the key cannot be reversed or brute-forced over the small phone-number space.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Callable

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

PII_KINDS = ("name", "id_number", "phone")

_PHONE_NOISE = re.compile(r"[\s\-‐‑‒–—()]")
_MOBILE_WITH_COUNTRY_CODE = re.compile(r"^(?:\+86|0086|86)(1\d{10})$")
_MOBILE = re.compile(r"^1\d{10}$")
_SPACES = re.compile(r"\s+")

# Free text is not NFKC-normalised as a whole (that would rewrite Chinese punctuation such
# as ，and （）), so the patterns accept full-width digits themselves.
_D = "[0-9０-９]"
# What people type between digit groups: spaces (also the full-width one), hyphens and dashes,
# full-width ones too, dots (139.1234.0000), middle dots; at most three between two digits.
_SEP = r"[\s\-‐‑‒–—－﹣.．·・]{0,3}"
_G = rf"{_SEP}{_D}"  # one more digit, after an optional separator
_NOT_DIGIT_BEFORE = "(?<![0-9０-９])"
_NOT_DIGIT_AFTER = "(?![0-9０-９])"
_NUMBER_IN_TEXT = re.compile(
    # the leading lookahead only restates the first characters of the branches; it lets the
    # regex engine skip ahead to them and makes the scrub ~2.5x faster
    r"(?=[+＋(（0-9０-９])(?:"
    # a mobile, optionally +86/0086/86-prefixed, its 11 digits grouped any way (3-4-4,
    # 139.1234.0000); tried first so that 0086 + mobile (15 digits) is not taken for an old
    # ID (no division code starts 00).
    rf"{_NOT_DIGIT_BEFORE}(?:(?:[+＋]|00|００)?[8８][6６]{_SEP})?"
    rf"(?P<mobile>[1１]{_SEP}[3-9３-９](?:{_G}){{9}}){_NOT_DIGIT_AFTER}"
    # 18-character ID numbers (last may be X) and old 15-digit ones, grouped any way
    # (460105 19900101 1234); over-masking an unrelated long number is the safe error here
    rf"|{_NOT_DIGIT_BEFORE}(?P<id>{_D}(?:{_G}){{16}}{_SEP}[0-9０-９XxＸｘ]|{_D}(?:{_G}){{14}})"
    r"(?![0-9０-９XxＸｘ])"
    # a landline with its area code (0898-66123456, (0898)66123456, 010 1234 5678): area
    # code 0 + 2-3 digits, local number of 7-8 digits not starting with 0 or 1
    rf"|{_NOT_DIGIT_BEFORE}(?P<landline>[(（]?[0０][1-9１-９]{_D}{{1,2}}[)）]?{_SEP}"
    rf"[2-9２-９](?:{_G}){{6,7}}){_NOT_DIGIT_AFTER}"
    r")"
)
# Cheap superset of the above (8 digits, at most three other characters between two of
# them) that pyarrow's RE2 can test on a whole column; only texts it hits go through Python.
_MAY_HOLD_NUMBER = "(?:[0-9０-９][^0-9０-９]{0,3}){7}[0-9０-９]"


# --- normalisation: the same person must give the same token whatever the formatting -----


def normalise_phone(s: str) -> str:
    """Full-width digits to ASCII, separators dropped, +86/0086/86 stripped off a mobile."""
    digits = _PHONE_NOISE.sub("", unicodedata.normalize("NFKC", s))
    mobile = _MOBILE_WITH_COUNTRY_CODE.match(digits)
    return mobile.group(1) if mobile else digits


def normalise_id_number(s: str) -> str:
    return unicodedata.normalize("NFKC", s).strip().upper()


def normalise_name(s: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", s).strip())


_NORMALISERS: dict[str, Callable[[str], str]] = {
    "name": normalise_name,
    "id_number": normalise_id_number,
    "phone": normalise_phone,
}


def _normaliser(kind: str) -> Callable[[str], str]:
    try:
        return _NORMALISERS[kind]
    except KeyError:
        raise ValueError(
            f"unknown personal-data kind {kind!r}; expected one of {PII_KINDS}"
        ) from None


def _tokeniser(kind: str, key: bytes) -> Callable[[str], str]:
    """HMAC-SHA256 (RFC 2104) of `kind␟value` for already normalised values.

    The padded key and the kind prefix are hashed once and the two SHA-256 states copied
    per value: a third of the cost of hmac.new (whose Python-level copy() is slow), which
    matters at a million callers. test_pii checks it against hmac.new.
    """
    block = hashlib.sha256().block_size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded) + f"{kind}\x1f".encode())
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    inner_copy, outer_copy = inner.copy, outer.copy

    def tokenise(normalised: str) -> str:
        h = inner_copy()
        h.update(normalised.encode())
        mac = outer_copy()
        mac.update(h.digest())
        return mac.hexdigest()

    return tokenise


def token(value: str, kind: str, key: bytes) -> str:
    """HMAC-SHA256 hex of `kind␟normalised value`: the kind separates domains so a phone
    and an ID number with the same digits never collide, while one phone links across
    datasets."""
    return _tokeniser(kind, key)(_normaliser(kind)(value))


# --- masks -----------------------------------------------------------------------------------


def _mask_normalised_name(name: str) -> str:
    """张三 → 张*, 李小明 → 李**, 欧阳娜娜 → 欧阳** (4+ characters are usually a compound
    surname, so two stay visible)."""
    if len(name) <= 1:
        return "*" * len(name)
    keep = 2 if len(name) >= 4 else 1
    return name[:keep] + "*" * (len(name) - keep)


def _mask_normalised_phone(phone: str) -> str:
    if _MOBILE.match(phone):
        return f"{phone[:3]}****{phone[-4:]}"
    if len(phone) <= 4:
        return "*" * len(phone)
    return "*" * (len(phone) - 4) + phone[-4:]


def mask_phone(s: str) -> str:
    """13812341234 → 138****1234; a landline or other number keeps only its last 4."""
    return _mask_normalised_phone(normalise_phone(s))


def _mask_normalised_id_number(number: str) -> str:
    if len(number) < 10:  # passports and other short document numbers: hide everything
        return "*" * len(number)
    return f"{number[:6]}********{number[-4:]}"


def mask_id_number(s: str) -> str:
    """First 6 (the issuing county) + ******** + last 4; the birth date is hidden."""
    return _mask_normalised_id_number(normalise_id_number(s))


_NORMALISED_MASKS: dict[str, Callable[[str], str]] = {
    "name": _mask_normalised_name,
    "id_number": _mask_normalised_id_number,
    "phone": _mask_normalised_phone,
}


def _digits(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isalnum()).upper()


def _mask_number(match: re.Match[str]) -> str:
    if match.group("mobile") is not None:
        mobile = _digits(match.group("mobile"))
        return f"{mobile[:3]}****{mobile[-4:]}"
    if match.group("id") is not None:
        return _mask_normalised_id_number(_digits(match.group("id")))
    landline = _digits(match.group("landline"))
    return "*" * (len(landline) - 4) + landline[-4:]


def scrub_free_text(text: str) -> str:
    """Mask the ID, mobile and landline numbers a caller typed into free text (NRMS, SQDZ),
    however they are grouped; also applied to every reason built from a file's content."""
    return _NUMBER_IN_TEXT.sub(_mask_number, text)


# --- frames ----------------------------------------------------------------------------------


def _as_text(value: object) -> str:
    """A cell as text; spreadsheet readers turn phone numbers into int or float."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _spread(per_unique: list[str | None], codes: np.ndarray, index: pd.Index) -> pd.Series:
    """Rows from per-unique results (code -1, a null, gives null) without a Python loop."""
    results = pd.array([*per_unique, None], dtype="str")
    return pd.Series(results.take(np.where(codes < 0, len(per_unique), codes)), index=index)


def _protect_column(values: pd.Series, kind: str, key: bytes) -> tuple[pd.Series, pd.Series]:
    """(tokens, masks) of one personal column, computed once per distinct value: a million
    work orders hold far fewer callers."""
    normalise, mask, tokenise = _normaliser(kind), _NORMALISED_MASKS[kind], _tokeniser(kind, key)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    normalised = [normalise(_as_text(raw)) for raw in uniques.tolist()]
    # a value that normalises to nothing stays null: a token of "" would link everyone
    # who left the field blank
    tokens = [tokenise(n) if n else None for n in normalised]
    masks = [mask(n) if n else None for n in normalised]
    return _spread(tokens, codes, values.index), _spread(masks, codes, values.index)


def _scrub_column(texts: pd.Series) -> pd.Series:
    texts = texts.astype("str")
    candidates = texts.str.contains(_MAY_HOLD_NUMBER, regex=True, na=False).to_numpy(bool)
    if not candidates.any():
        return texts
    scrubbed = texts.copy()
    scrubbed[candidates] = [scrub_free_text(t) for t in texts[candidates].tolist()]
    return scrubbed


def protect_columns(
    df: pd.DataFrame, pii: dict[str, str], key: bytes, free_text: list[str]
) -> pd.DataFrame:
    """A copy of `df` in which each personal column `c` is replaced, at its position, by
    `c_token` and `c_masked`, and free-text columns are scrubbed.

    Columns named in `pii` or `free_text` but absent from `df` are skipped (the field list
    covers every dataset). Nulls, and values that normalise to nothing, stay null.
    """
    if not df.columns.is_unique:
        raise ValueError("protect_columns needs unique column names")
    for kind in pii.values():
        _normaliser(kind)  # fail on an unknown kind before any work
    columns: dict[str, pd.Series] = {}
    for column in df.columns:
        if column in pii:
            tokens, masks = _protect_column(df[column], pii[column], key)
            columns[f"{column}_token"] = tokens
            columns[f"{column}_masked"] = masks
        elif column in free_text:
            columns[column] = _scrub_column(df[column])
        else:
            columns[column] = df[column]
    out = pd.DataFrame(columns, index=df.index)
    out.attrs = dict(df.attrs)  # provenance carried by the reader (source file, delivery)
    return out
