"""Market entities: kinds, industries, names and the permits each industry needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from pipelines.sample import names
from pipelines.sample.layout import IntArray
from pipelines.sample.names import StrArray
from pipelines.sample.region import County


@dataclass(frozen=True)
class Industry:
    key: str
    kind: str  # USCC position 2: 1 company, 2 individual business, 3 farmers' co-operative
    suffixes: tuple[str, ...]
    scope: str  # 经营范围
    permits: tuple[tuple[str, float], ...]  # (licence type, share of entities holding it)
    weight: float


INDUSTRIES = (
    Industry(
        "贸易",
        "1",
        ("商贸有限公司", "贸易有限公司"),
        "一般项目：日用百货销售；五金产品批发；电子产品销售；国内贸易代理",
        (),
        0.16,
    ),
    Industry(
        "餐饮",
        "1",
        ("餐饮管理有限公司", "餐饮服务有限公司"),
        "许可项目：餐饮服务；食品销售。一般项目：餐饮管理",
        (("食品经营许可证", 0.9),),
        0.08,
    ),
    Industry(
        "酒店",
        "1",
        ("酒店管理有限公司", "度假酒店有限公司"),
        "许可项目：住宿服务；餐饮服务。一般项目：酒店管理；会议及展览服务",
        (("食品经营许可证", 0.6),),
        0.05,
    ),
    Industry(
        "科技",
        "1",
        ("科技有限公司", "网络科技有限公司", "信息技术有限公司"),
        "一般项目：技术服务、技术开发、技术咨询；软件开发；信息系统集成服务",
        (),
        0.08,
    ),
    Industry(
        "建材",
        "1",
        ("建材有限公司", "混凝土有限公司"),
        "一般项目：建筑材料销售；水泥制品制造；砼结构构件制造",
        (("排污许可证", 0.6),),
        0.04,
    ),
    Industry(
        "建筑",
        "1",
        ("建筑工程有限公司", "建设工程有限公司"),
        "许可项目：建设工程施工。一般项目：园林绿化工程施工",
        (),
        0.05,
    ),
    Industry(
        "物流",
        "1",
        ("物流有限公司", "供应链管理有限公司"),
        "许可项目：道路货物运输。一般项目：普通货物仓储服务；国内货物运输代理",
        (),
        0.03,
    ),
    Industry(
        "农产品加工",
        "1",
        ("农产品加工有限公司", "食品有限公司", "槟榔加工有限公司"),
        "许可项目：食品生产；粮食加工食品生产。一般项目：农产品的生产、销售、加工、运输、贮藏",
        (("排污许可证", 0.7), ("食品经营许可证", 0.5)),
        0.02,
    ),
    Industry(
        "矿业",
        "1",
        ("矿业有限公司", "矿业开发有限公司", "石材有限公司"),
        "许可项目：非煤矿山矿产资源开采。一般项目：选矿；矿物洗选加工；建筑用石加工",
        (("采矿许可证", 0.95), ("排污许可证", 0.6)),
        0.01,
    ),
    Industry(
        "个体餐饮",
        "2",
        ("小吃店", "粉店", "饭店", "茶餐厅", "糖水店"),
        "许可项目：小餐饮；食品销售",
        (("食品经营许可证", 0.85),),
        0.16,
    ),
    Industry(
        "个体零售",
        "2",
        ("便利店", "商行", "水果店", "日杂店"),
        "一般项目：日用百货销售；食品销售（仅销售预包装食品）；水果零售",
        (("食品经营许可证", 0.5),),
        0.17,
    ),
    Industry(
        "个体维修",
        "2",
        ("汽车修理厂", "电动车维修部", "轮胎店"),
        "一般项目：机动车修理和维护；电动自行车维修",
        (("排污许可证", 0.3),),
        0.06,
    ),
    Industry(
        "种植合作社",
        "3",
        ("种植专业合作社", "热带水果专业合作社", "槟榔种植专业合作社"),
        "组织收购、销售成员种植的农产品；引进新技术、新品种，开展技术培训",
        (),
        0.06,
    ),
    Industry(
        "养殖合作社",
        "3",
        ("养殖专业合作社", "生猪养殖专业合作社"),
        "组织成员开展畜禽养殖；销售成员养殖的畜禽产品",
        (("排污许可证", 0.4),),
        0.03,
    ),
)
ON_FARMLAND = ("农产品加工", "矿业")  # the businesses found on permanent basic farmland
ENTITY_TYPES = {
    "1": (
        "有限责任公司（自然人投资或控股）",
        "有限责任公司（自然人独资）",
        "其他有限责任公司",
        "股份有限公司（非上市、自然人投资或控股）",
    ),
    "2": ("个体工商户",),
    "3": ("农民专业合作社",),
}
BRAND_CHARS = tuple(
    "鑫源恒泰华盛达宏兴隆嘉和美康鸿发金海椰风蓝天绿洲南国新锐众诚博远佳润丰"
    "瑞祥益荣昌顺通汇德信万宝利永创晟凯旺豪腾辉茂恩晨"
)
_CODES = np.array([i.key for i in INDUSTRIES], dtype=object)
_KINDS = np.array([i.kind for i in INDUSTRIES])
_WEIGHTS = np.array([i.weight for i in INDUSTRIES])
# per industry: its permits (licence type, share of entities holding it), padded to two
_PERMIT_TYPES = np.array(
    [[kind for kind, _ in i.permits] + [""] * (2 - len(i.permits)) for i in INDUSTRIES],
    dtype=object,
)
_PERMIT_SHARES = np.array([[share for _, share in i.permits] + [0.0] * (2 - len(i.permits))
                           for i in INDUSTRIES])


def industry_keys(industry: IntArray) -> npt.NDArray[np.object_]:
    out: npt.NDArray[np.object_] = _CODES[industry]
    return out


def industry_kinds(industry: IntArray) -> StrArray:
    out: StrArray = _KINDS[industry]
    return out


def short_name(county: County) -> str:
    """The short place name used in company names: 海口, 文昌, 乐东."""
    if county.code[:4] in ("4601", "4602"):
        return county.full_name[:2]
    return county.name[:2] if "自治" in county.name else county.name[:-1]


def draw_industries(rng: np.random.Generator, n: int, keys: tuple[str, ...] = ()) -> IntArray:
    """n industries (indexes into INDUSTRIES) by their weight, among `keys` if given."""
    pool = np.array([k for k, i in enumerate(INDUSTRIES) if not keys or i.key in keys])
    weight = _WEIGHTS[pool]
    out: IntArray = pool[rng.choice(pool.size, n, p=weight / weight.sum())]
    return out


def permits_for(rng: np.random.Generator, industry: IntArray) -> npt.NDArray[np.object_]:
    """(n, 3) licences of each entity: 营业执照 first, then the permits it holds ("" after)."""
    held = rng.random((industry.size, 2)) < _PERMIT_SHARES[industry]
    permits = np.where(held, _PERMIT_TYPES[industry], "")
    # the permits held move to the front: ("", permit) -> (permit, "")
    swap = (permits[:, 0] == "") & (permits[:, 1] != "")
    permits[swap] = permits[swap][:, ::-1]
    out: npt.NDArray[np.object_] = np.column_stack(
        [np.full(industry.size, "营业执照", dtype=object), permits]
    )
    return out


def entity_names(
    rng: np.random.Generator,
    industry: IntArray,
    counties: tuple[County, ...],
    county: IntArray,
    boss: StrArray,
) -> npt.NDArray[np.object_]:
    """A registered name for each entity, unique within the register (a name is registered
    once per jurisdiction): names drawn again for the duplicates until none is left."""
    names_ = _draw_names(rng, industry, counties, county, boss, 0)
    for round_ in range(1, 64):
        again = np.flatnonzero(pd.Series(names_).duplicated().to_numpy())
        if not again.size:
            return names_
        names_[again] = _draw_names(rng, industry[again], counties, county[again], boss[again],
                                    round_)
    raise RuntimeError("could not draw unique entity names")


def _draw_names(
    rng: np.random.Generator,
    industry: IntArray,
    counties: tuple[County, ...],
    county: IntArray,
    boss: StrArray,
    round_: int,
) -> npt.NDArray[np.object_]:
    n = industry.size
    # two-character brands mostly; three, then four when the short ones are taken
    length = 2 + (rng.random(n) < 0.3) + (round_ >= 8)
    brand = names.join(*(np.where(length > k, names.pick(rng, BRAND_CHARS, n), "")
                         for k in range(4))).astype(object)
    suffix_count = np.array([len(i.suffixes) for i in INDUSTRIES])[industry]
    pick = np.floor(rng.random(n) * suffix_count).astype(np.int64)
    suffixes = np.array([i.suffixes + ("",) * (5 - len(i.suffixes)) for i in INDUSTRIES],
                        dtype=object)
    suffix = suffixes[industry, pick]
    full = np.array([c.full_name for c in counties], dtype=object)[county]
    short = np.array([short_name(c) for c in counties], dtype=object)[county]
    kind = _KINDS[industry]
    boss_s = pd.Series(boss, dtype=object)
    # 个体: often named after the owner, 阿强粉店 / 李记小吃店
    owner = np.where(rng.random(n) < 0.4, "阿" + boss_s.str[-1].to_numpy(dtype=object),
                     boss_s.str[0].to_numpy(dtype=object) + "记")
    individual = full + np.where(rng.random(n) < 0.6, owner, brand) + suffix
    prefix = np.where(rng.random(n) < 0.5, "海南", short)
    out: npt.NDArray[np.object_] = np.select(
        [kind == "2", kind == "3"], [individual, full + brand + suffix], prefix + brand + suffix
    ).astype(object)
    return out
