"""What Hainan callers ring 12345 about: categories, handling departments, description templates.

Placeholders in a template: {ent} entity name, {addr} street address, {village} village,
{money} an amount, {months} a number of months, {zbdw} the handling department.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    classes: tuple[str, str, str]  # YWFL1-3
    types: tuple[str, ...]  # GDLX the operator picks
    department: str  # ZBDW, prefixed with the county's name
    place: str  # where it happens: entity, farmland or town
    industries: tuple[str, ...]  # for place == entity: which entities get this complaint
    templates: tuple[str, ...]
    weight: float


TOPICS = (
    Topic(
        ("市场监管", "食品安全", "餐饮卫生"),
        ("投诉", "举报"),
        "市场监督管理局",
        "entity",
        ("餐饮", "个体餐饮", "酒店"),
        (
            "反映{ent}后厨卫生条件差，用餐后出现腹泻，要求查处。",
            "反映{ent}售卖过期食品，要求市场监管部门核查。",
        ),
        0.05,
    ),
    Topic(
        ("市场监管", "消费维权", "预付卡退费"),
        ("投诉",),
        "市场监督管理局",
        "entity",
        ("贸易", "个体零售", "科技", "酒店"),
        (
            "反映在{ent}办理的预付卡商家停业后无法退费，涉及金额{money}元。",
            "反映{ent}网购商品质量问题，商家拒绝退换。",
        ),
        0.05,
    ),
    Topic(
        ("市场监管", "价格监管", "未明码标价"),
        ("举报", "投诉"),
        "市场监督管理局",
        "entity",
        ("个体零售", "酒店", "个体餐饮"),
        ("反映国庆期间{ent}价格明显上涨且未明码标价。",),
        0.02,
    ),
    Topic(
        ("生态环境", "大气污染", "企业废气排放"),
        ("投诉", "举报"),
        "生态环境局",
        "entity",
        ("建材", "农产品加工", "矿业", "个体维修", "养殖合作社"),
        (
            "反映{ent}夜间排放刺激性气体，影响周边居民休息。",
            "反映{ent}粉尘污染严重，周边农作物表面积灰。",
        ),
        0.03,
    ),
    Topic(
        ("劳动保障", "工资支付", "拖欠工资"),
        ("投诉", "求助"),
        "人力资源和社会保障局",
        "entity",
        ("建筑", "物流", "贸易", "农产品加工"),
        ("反映{ent}拖欠工资{months}个月共计{money}元，要求协调支付。",),
        0.04,
    ),
    Topic(
        ("生态环境", "噪声污染", "施工噪声"),
        ("投诉",),
        "综合行政执法局",
        "town",
        (),
        ("反映{addr}附近工地夜间施工噪音扰民，持续到凌晨。",),
        0.09,
    ),
    Topic(
        ("自然资源", "耕地保护", "违法占用耕地"),
        ("举报",),
        "自然资源和规划局",
        "farmland",
        (),
        (
            "反映{village}有人在农田里堆土硬化建房，疑似占用基本农田。",
            "反映{village}水田被挖成鱼塘，请核查是否违法。",
        ),
        0.03,
    ),
    Topic(
        ("自然资源", "矿产资源", "非法采砂"),
        ("举报",),
        "自然资源和规划局",
        "farmland",
        (),
        ("反映{village}附近有人夜间非法采砂，运砂车辆多。",),
        0.01,
    ),
    Topic(
        ("农业农村", "农田建设", "高标准农田"),
        ("投诉", "建议"),
        "农业农村局",
        "farmland",
        (),
        (
            "反映{village}高标准农田项目灌溉沟渠损坏，影响用水。",
            "建议{village}高标准农田机耕路硬化。",
        ),
        0.02,
    ),
    Topic(
        ("城乡建设", "市政设施", "道路积水"),
        ("求助", "投诉"),
        "住房和城乡建设局",
        "town",
        (),
        ("反映{addr}路段雨后积水严重，影响通行。",),
        0.08,
    ),
    Topic(
        ("城乡建设", "供水", "停水"),
        ("求助", "咨询"),
        "水务局",
        "town",
        (),
        ("反映{addr}一带停水超过十二小时，无任何通知。",),
        0.07,
    ),
    Topic(
        ("交通运输", "出租汽车", "绕路拒载"),
        ("投诉",),
        "交通运输局",
        "town",
        (),
        ("反映从{addr}乘坐出租车被绕路多收费。",),
        0.05,
    ),
    Topic(
        ("社会保障", "医疗保险", "医保缴费"),
        ("咨询",),
        "医疗保障局",
        "town",
        (),
        ("咨询灵活就业人员医保缴费标准及办理渠道。", "咨询异地就医备案如何办理。"),
        0.12,
    ),
    Topic(
        ("社会保障", "养老保险", "待遇领取"),
        ("咨询", "求助"),
        "人力资源和社会保障局",
        "town",
        (),
        ("咨询养老金领取资格认证方式。",),
        0.09,
    ),
    Topic(
        ("城市管理", "市容环境", "占道经营"),
        ("投诉", "举报"),
        "综合行政执法局",
        "town",
        (),
        ("反映{addr}路边占道经营，夜市油烟和垃圾影响居民。",),
        0.09,
    ),
    Topic(
        ("政务服务", "服务评价", "表扬"),
        ("表扬",),
        "政务服务中心",
        "town",
        (),
        ("表扬{zbdw}工作人员办事热情高效。",),
        0.03,
    ),
    Topic(
        ("公共安全", "消防安全", "占用消防通道"),
        ("举报",),
        "消防救援大队",
        "entity",
        ("酒店", "个体零售", "物流"),
        ("反映{ent}长期占用消防通道堆放杂物。",),
        0.02,
    ),
    Topic(
        ("教育", "校外培训", "违规收费"),
        ("投诉", "咨询"),
        "教育局",
        "town",
        (),
        ("反映{addr}一家培训机构违规预收学费。",),
        0.04,
    ),
)
RESULTS = (("解决", 0.62), ("部分解决", 0.14), ("未解决", 0.09), ("退单", 0.15))
SATISFACTION = (("满意", 0.55), ("基本满意", 0.2), ("不满意", 0.1), ("未评价", 0.15))
CHANNELS = (("电话", 0.66), ("微信", 0.12), ("海易办", 0.08), ("网站", 0.07), ("APP", 0.07))
# Calls by hour of day: quiet at night, peaks mid-morning, afternoon and after dinner.
HOURLY = (
    0.3,
    0.2,
    0.15,
    0.1,
    0.1,
    0.2,
    0.5,
    1.2,
    2.5,
    3.4,
    3.5,
    3.0,
    2.0,
    2.2,
    3.0,
    3.2,
    3.0,
    2.6,
    2.0,
    2.2,
    2.4,
    2.0,
    1.2,
    0.6,
)
