"""Check characters of the national identifier codes (GB 32100-2015, GB 11643-1999): the one
place their weights and alphabets are written, as scalar functions (for one code) and
vectorised ones (for a column).

No maintained PyPI package covers both codes with vectorised checks; the algorithms are
short and fixed by the standards, so they live here.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt
import pandas as pd

BoolArray = npt.NDArray[np.bool_]
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {ch: i for i, ch in enumerate(USCC_ALPHABET)}
# [0-9], not \d: \d takes any Unicode digit (Arabic-Indic, full-width), which the check
# character arithmetic cannot read; the patterns are always applied with fullmatch.
USCC_SHAPE = r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}"
USCC_PATTERN = re.compile(USCC_SHAPE)

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
ID_SHAPE = r"[0-9]{17}[0-9X]"
ID_PATTERN = re.compile(ID_SHAPE)

# The same tables as numpy arrays, for the vectorised checks.
_ID_WEIGHTS = np.array(ID_WEIGHTS, dtype=np.int64)
_ID_CHECK = np.array([ord(c) for c in ID_CHECK], dtype=np.uint32)
_USCC_WEIGHTS = np.array(USCC_WEIGHTS, dtype=np.int64)
_USCC_ALPHABET = np.array([ord(c) for c in USCC_ALPHABET], dtype=np.uint32)
_USCC_VALUES = np.full(128, -1, dtype=np.int64)
_USCC_VALUES[_USCC_ALPHABET] = np.arange(len(USCC_ALPHABET))


def uscc_check_char(first17: str) -> str:
    """The 18th character of a 统一社会信用代码 for its first 17 (GB 32100-2015, 4.3)."""
    total = sum(_USCC_VALUE[ch] * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when the code has the GB 32100 form and its check character is right."""
    if not isinstance(code, str) or not USCC_PATTERN.fullmatch(code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def id_card_check_char(first17: str) -> str:
    """The 18th character of a 居民身份证号 for its first 17 (GB 11643, ISO 7064 MOD 11-2)."""
    total = sum(int(ch) * w for ch, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def is_valid_id_card(number: str) -> bool:
    """True when the number has 18 characters and a correct MOD 11-2 check character."""
    if not isinstance(number, str) or not ID_PATTERN.fullmatch(number):
        return False
    return id_card_check_char(number[:17]) == number[17]


def _code_points(text: pd.Series, width: int) -> np.ndarray:
    """Fixed-width ASCII strings as an (n, width) array of code points."""
    arr = text.to_numpy(dtype=f"U{width}")
    return np.frombuffer(arr.tobytes(), dtype=np.uint32).reshape(len(arr), width)


def id_card_ok(values: pd.Series) -> BoolArray:
    """GB 11643 居民身份证号: 18 characters, the last a MOD 11-2 check (X for 10).

    Vectorised over numpy code points: the scalar `is_valid_id_card` costs a Python call
    per row, seconds at a million rows."""
    text = values.astype("string").str.strip().str.upper()
    present = text.notna().to_numpy(bool)
    shaped = text.str.fullmatch(ID_SHAPE).fillna(False).to_numpy(bool)
    ok = ~present
    if shaped.any():
        cp = _code_points(text[shaped], 18)
        total = (cp[:, :17].astype(np.int64) - ord("0")) @ _ID_WEIGHTS
        ok[shaped] = _ID_CHECK[total % 11] == cp[:, 17]
    return np.asarray(ok, dtype=bool)


def uscc_ok(values: pd.Series) -> BoolArray:
    """GB 32100 统一社会信用代码 with a correct check character (vectorised, as above)."""
    text = values.astype("string")
    present = text.notna().to_numpy(bool)
    shaped = text.str.fullmatch(USCC_SHAPE).fillna(False).to_numpy(bool)
    ok = ~present
    if shaped.any():
        cp = _code_points(text[shaped], 18)
        total = _USCC_VALUES[cp[:, :17]] @ _USCC_WEIGHTS
        ok[shaped] = _USCC_ALPHABET[(31 - total % 31) % 31] == cp[:, 17]
    return np.asarray(ok, dtype=bool)
