"""Check characters of the national identifier codes (GB 32100-2015, GB 11643-1999).

No maintained PyPI package covers both codes with vectorised checks; the algorithms are
short and fixed by the standards, so they live here.
"""

from __future__ import annotations

import re

import pandas as pd

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
USCC_PATTERN = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
ID_PATTERN = re.compile(r"^\d{17}[\dX]$")


def uscc_check_char(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 for its first 17 (GB 32100-2015, 4.3)."""
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when the code has the GB 32100 form and its check character is right."""
    if not isinstance(code, str) or not USCC_PATTERN.match(code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def id_card_check_char(first17: str) -> str:
    """The 18th character of a 居民身份证号 for its first 17 (GB 11643, ISO 7064 MOD 11-2)."""
    total = sum(int(ch) * w for ch, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_id_card(number: str) -> bool:
    """True when the number has 18 characters and a correct MOD 11-2 check character."""
    if not isinstance(number, str) or not ID_PATTERN.match(number):
        return False
    return id_card_check_char(number[:17]) == number[17]


def _check_series(values: pd.Series, check: object) -> pd.Series:
    """Apply a scalar check to non-null values; nulls stay <NA> (absence is another rule)."""
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    present = values.notna()
    out[present] = [bool(check(v)) for v in values[present]]  # type: ignore[operator]
    return out


def uscc_check_ok(values: pd.Series) -> pd.Series:
    return _check_series(values, is_valid_uscc)


def id_card_check_ok(values: pd.Series) -> pd.Series:
    return _check_series(values, is_valid_id_card)
