"""Chinese names, places, phone numbers and valid or broken national codes, drawn in bulk.

Every pool is a tuple (never a set) so draws are reproducible for a seed; every character is
in GBK, since two of the files are written in it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from pipelines.validate.codes import USCC_ALPHABET

StrArray = npt.NDArray[np.str_]

SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐符邢吉云冯蔡潘曾彭韩钟卢邓许傅羊"
    "麦文陆颜莫庞钱"
)
GIVEN_CHARS = tuple(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志海燕玉红春梅永波宁健文德"
    "清亚雄琼南椰福安金有才美玲晓东"
)
PLACE_CHARS = tuple(
    "东西南北新大小上下中龙凤福和平安山水坡岭田塘湾溪石林竹椰青红白金长兴隆昌盛丰美富"
    "乐仁义礼文武加道头尾坑港桥铺"
)
TOWN_SUFFIX = ("镇", "镇", "镇", "乡")
ROAD_SUFFIX = ("路", "路", "大道", "街", "巷")
MOBILE_PREFIXES = tuple(
    [
        "130",
        "131",
        "132",
        "133",
        "135",
        "136",
        "137",
        "138",
        "139",
        "150",
        "151",
        "152",
        "155",
        "156",
        "157",
        "158",
        "159",
        "166",
        "173",
        "175",
        "176",
        "177",
        "180",
        "181",
        "182",
        "183",
        "185",
        "186",
        "187",
        "188",
        "189",
        "191",
        "198",
        "199",
    ]
)
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK: StrArray = np.array(list("10X98765432"))
_USCC_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
_ALPHABET: StrArray = np.array(list(USCC_ALPHABET))


def pick(rng: np.random.Generator, pool: tuple[str, ...], n: int) -> StrArray:
    return np.asarray(pool)[rng.integers(0, len(pool), n)]


def join(*parts: StrArray | str) -> StrArray:
    """Element-wise string concatenation of arrays and constants."""
    out: StrArray = np.asarray(parts[0], dtype=np.str_)
    for part in parts[1:]:
        out = np.char.add(out, np.asarray(part, dtype=np.str_))
    return out


def person_names(rng: np.random.Generator, n: int) -> StrArray:
    # Two- or three-character names, as most Han and Li names in Hainan are.
    given = pick(rng, GIVEN_CHARS, n)
    second = np.where(rng.random(n) < 0.7, pick(rng, GIVEN_CHARS, n), "")
    return join(pick(rng, SURNAMES, n), given, second)


def place_names(rng: np.random.Generator, n: int, taken: set[str] | None = None) -> list[str]:
    """n distinct two-character place names (village, township, shop brand)."""
    taken = set() if taken is None else taken
    out: list[str] = []
    while len(out) < n:
        for name in join(pick(rng, PLACE_CHARS, n), pick(rng, PLACE_CHARS, n)).tolist():
            if name[0] != name[1] and name not in taken and len(out) < n:
                taken.add(name)
                out.append(name)
    return out


def mobiles(rng: np.random.Generator, n: int) -> StrArray:
    tail = rng.integers(0, 100_000_000, n)
    return join(pick(rng, MOBILE_PREFIXES, n), np.char.zfill(tail.astype(np.str_), 8))


def chars(codes: StrArray, width: int) -> npt.NDArray[np.uint32]:
    """(n, width) code points of n strings of exactly `width` characters."""
    fixed = np.ascontiguousarray(np.asarray(codes, dtype=f"<U{width}"))
    return fixed.view(np.uint32).reshape(-1, width)


def from_chars(points: npt.NDArray[np.uint32]) -> StrArray:
    """The inverse of chars: (n, width) code points to n strings."""
    width = points.shape[1]
    out: StrArray = np.ascontiguousarray(points, dtype=np.uint32).view(f"<U{width}").ravel()
    return out


def _id_check(first17: StrArray) -> StrArray:
    digits = chars(first17, 17).astype(np.int64) - 48
    out: StrArray = _ID_CHECK[(digits @ _ID_WEIGHTS) % 11]
    return out


def id_numbers(
    rng: np.random.Generator, region_codes: StrArray, born_from: int = 1950, born_to: int = 2004
) -> StrArray:
    """Valid 18-character 居民身份证号 for the given 6-digit birth-registration codes."""
    n = region_codes.size
    start = dt.date(born_from, 1, 1).toordinal()
    days = rng.integers(0, dt.date(born_to, 12, 31).toordinal() - start, n)
    births = yyyymmdd(np.datetime64(dt.date(born_from, 1, 1), "D") + days)
    serial = np.char.zfill(rng.integers(1, 1000, n).astype(np.str_), 3)
    first17 = join(region_codes, births, serial)
    return join(first17, _id_check(first17))


def break_id_check(rng: np.random.Generator, ids: StrArray) -> StrArray:
    """Same numbers with a wrong (but well-formed) check character: a typo in the register."""
    right = np.array([s[17] for s in ids.tolist()])
    shift = rng.integers(1, 11, ids.size)
    idx = (_index_of(_ID_CHECK, right) + shift) % 11
    return join(np.array([s[:17] for s in ids.tolist()]), _ID_CHECK[idx])


def _index_of(pool: StrArray, values: StrArray) -> npt.NDArray[np.int64]:
    lookup = {ch: i for i, ch in enumerate(pool.tolist())}
    return np.array([lookup[v] for v in values.tolist()], dtype=np.int64)


_ALPHABET_INDEX = np.zeros(128, dtype=np.int64)
_ALPHABET_INDEX[[ord(c) for c in USCC_ALPHABET]] = np.arange(len(USCC_ALPHABET))


def _uscc_check(first17: StrArray) -> StrArray:
    values = _ALPHABET_INDEX[chars(first17, 17)]
    out: StrArray = _ALPHABET[(31 - (values @ _USCC_WEIGHTS) % 31) % 31]
    return out


def usccs(rng: np.random.Generator, kind: StrArray, county_codes: StrArray) -> StrArray:
    """Valid 统一社会信用代码: '9' (market regulation), kind (1 company, 2 individual, 3 co-op),
    the registering county, a 9-character organisation code and the check character."""
    n = kind.size
    org = from_chars(_ALPHABET.view(np.uint32)[rng.integers(0, _ALPHABET.size, (n, 9))])
    first17 = join("9", kind, county_codes, org)
    return join(first17, _uscc_check(first17))


def yyyymmdd(days: npt.NDArray[np.datetime64]) -> StrArray:
    """Dates as YYYYMMDD strings, all at once."""
    iso = chars(np.datetime_as_string(days.astype("datetime64[D]"), unit="D"), 10)
    return from_chars(iso[:, [0, 1, 2, 3, 5, 6, 8, 9]])


def break_uscc_check(rng: np.random.Generator, codes: StrArray) -> StrArray:
    right = _index_of(_ALPHABET, np.array([c[17] for c in codes.tolist()]))
    wrong = _ALPHABET[(right + rng.integers(1, 31, codes.size)) % 31]
    return join(np.array([c[:17] for c in codes.tolist()]), wrong)
