"""The template's reading sheets: 说明 (fields, and how a delivery is answered) and
格式与坐标系 (which files and reference systems are accepted)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pyproj import CRS

from pipelines.contracts import Contract, Region
from pipelines.landing.field_rules import (
    TYPE_ZH,
    UNIT_ZH,
    allowed_text,
    describe_pattern,
    example_value,
    field_rules,
    rule_name,
)

LAYER_TYPES: dict[str, str] = {
    "string": "文本（Shapefile: C 字符型；GeoPackage: TEXT）",
    "integer": "整数（Shapefile: N 无小数；GeoPackage: INTEGER）",
    "number": "小数（Shapefile: N/F 含小数；GeoPackage: REAL）",
    "date": "日期（Shapefile: D；GeoPackage: DATE）",
    "datetime": "日期时间（GeoPackage: DATETIME；Shapefile 无此类型，用文本 yyyy-mm-dd hh:mm:ss）",
}
STORAGE_EPSG = 4490
GK_ZONE_EPSG_BASE = 4488  # EPSG:4513 is zone 25 (easting carries the zone number)
GK_CM_EPSG_BASE = 4509  # EPSG:4534 is CM 75E = zone 25 (central meridian only)


def dataset_rules(contract: Contract) -> list[str]:
    """The rules a row of this dataset can break, in the order a clerk meets them."""
    fields = contract.fields
    rules = ["required"] if any(f.required for f in fields) else []
    rules += ["type"] if any(f.type != "string" for f in fields) else []
    rules += ["damaged_code"]
    rules += ["domain"] if any(f.domain or f.domain_ref for f in fields) else []
    rules += ["pattern"] if any(f.pattern for f in fields) else []
    rules += ["range"] if any(f.range for f in fields) else []
    rules += ["key_unique"] if contract.key else []
    rules += ["geometry_valid", "geometry_in_region"]
    rules += ["dates_in_order"] if contract.date_order else []
    rules += ["county_location"] if any(f.domain_ref for f in fields) else []
    rules += ["uscc_check"] if any(f.check == "uscc" for f in fields) else []
    rules += ["id_card_check"] if any(f.check == "id_card" for f in fields) else []
    rules += ["area_agrees"] if contract.area_check else []
    return rules


def _table(ws: Any, row: int, header: Sequence[str], rows: Sequence[Sequence[str]],
           head: Any, cell: Any) -> int:
    for c, h in enumerate(header):
        ws.write_string(row, c, h, head)
    for r, values in enumerate(rows, start=row + 1):
        for c, v in enumerate(values):
            ws.write_string(r, c, v, cell)
    return row + len(rows) + 2


def answer_lines(contract: Contract, rule_severity: Mapping[str, str] | None) -> list[str]:
    """How a delivery of this dataset is answered: loaded, quarantined, flagged, rejected."""
    rules = dataset_rules(contract)
    lines = ["入库：通过全部规则的记录写入数据仓库。"]
    if rule_severity is None:
        lines.append("隔离或标记：违反规则的记录不入库（隔离）或入库并标记，答复中逐行列出原因和修改建议。")
    else:
        for sev, what in (("fail", "隔离（该记录不入库，请修改后重新报送）"),
                          ("warn", "标记（该记录入库并标记，请核实）")):
            names = [rule_name(r) for r in rules if rule_severity.get(r) == sev]
            if names:
                lines.append(f"{what}：{'、'.join(names)}。")
    threshold = contract.reject_threshold
    share = ("任何一条记录被隔离" if threshold == 0
             else f"被隔离的记录超过全部记录的 {threshold:.0%}")
    lines.append(f"整个文件退回（一条也不入库）：文件无法读取、缺少必填列，或{share}。")
    if contract.delivery == "snapshot":
        scope = (f"，按 {contract.snapshot_by} 替换本次文件所含地区的现有数据"
                 if contract.snapshot_by else "，替换现有数据")
        lines.append(f"报送方式：每次报送完整数据{scope}；被隔离的记录请改正后随完整文件重新报送。")
    else:
        lines.append("报送方式：每次报送新增或变化的记录；被隔离的记录改正后单独重新报送即可。")
    lines.append("表头：可用字段代码（如第 3 行）或中文名称，大小写、全角半角均可；表头上方可有标题行。")
    return lines


def readme_sheet(wb: Any, ws: Any, contract: Contract, region: Region,
                 rule_severity: Mapping[str, str] | None) -> None:
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "num_format": "@",
                          "text_wrap": True, "valign": "top"})
    cell = wb.add_format({"num_format": "@", "text_wrap": True, "valign": "top", "border": 1})
    bold = wb.add_format({"bold": True, "font_size": 13, "num_format": "@"})
    text = wb.add_format({"num_format": "@"})
    polygon = contract.geometry == "MultiPolygon"
    ws.write_string(0, 0, f"{contract.title}（{contract.dataset}）字段说明与答复规则", bold)
    header = ["字段代码", "中文名称", "必填", "类型", "允许的值 / 格式", "示例", "规则说明"]
    header += ["图层字段类型"] if polygon else []
    rows = []
    for f in contract.fields:
        kind = TYPE_ZH[f.type] + (f"（{UNIT_ZH.get(f.unit, f.unit)}）" if f.unit else "")
        allowed = allowed_text(f, region) or (describe_pattern(f.pattern) if f.pattern else "")
        row = [f.code, f.label, "是" if f.required else "否", kind, allowed,
               example_value(f, contract, region), "；".join(field_rules(f, contract, region)[2:])]
        rows.append(row + ([LAYER_TYPES[f.type]] if polygon else []))
    after = _table(ws, 2, header, rows, head, cell)
    ws.write_string(after, 0, "报送后如何答复", bold)
    for i, line in enumerate(answer_lines(contract, rule_severity), start=after + 1):
        ws.write_string(i, 0, line, text)
    for c, width in enumerate((12, 20, 6, 16, 48, 22, 60, 40)[:len(header)]):
        ws.set_column(c, c, width)
    ws.freeze_panes(3, 2)


def _crs_rows(region: Region) -> list[list[str]]:
    def name(epsg: int) -> str:
        return str(CRS.from_epsg(epsg).name)

    rows = [[f"EPSG:{STORAGE_EPSG}", name(STORAGE_EPSG), "经纬度（度）",
             "推荐：数据仓库的存储坐标系（CGCS2000 地理坐标）"]]
    for zone in region.gk_zones:
        cm = zone * 3
        rows.append([f"EPSG:{GK_ZONE_EPSG_BASE + zone}", name(GK_ZONE_EPSG_BASE + zone), "米",
                     f"本地区：第 {zone} 带，中央经线 {cm}°E，东坐标前两位为带号 {zone}"])
        rows.append([f"EPSG:{GK_CM_EPSG_BASE + zone}", name(GK_CM_EPSG_BASE + zone), "米",
                     f"本地区：中央经线 {cm}°E，东坐标不含带号"])
    rows.append(["EPSG:4513–4533", "CGCS2000 3 度带（含带号）", "米", "第 25–45 带，东坐标含带号"])
    rows.append(["EPSG:4534–4554", "CGCS2000 3 度带（不含带号）", "米", "中央经线 75°E–135°E"])
    rows.append(["EPSG:4326", name(4326), "经纬度（度）", "与 CGCS2000 相差数厘米，按 CGCS2000 入库"])
    return rows


def formats_sheet(wb: Any, ws: Any, contract: Contract, region: Region) -> None:
    head = wb.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "num_format": "@"})
    cell = wb.add_format({"num_format": "@", "text_wrap": True, "valign": "top", "border": 1})
    bold = wb.add_format({"bold": True, "font_size": 13, "num_format": "@"})
    layers = "、".join(contract.layer_names) or contract.dataset
    ws.write_string(0, 0, f"{contract.title}：接受的文件格式和坐标系", bold)
    formats = [
        ["zip 压缩的 Shapefile", f"一个 zip 中只放一套 .shp/.shx/.dbf/.prj（.cpg 可选，写明编码 UTF-8 或 "
         f"GBK；没有 .cpg 按 GBK 读取）；图层名建议为 {layers}；字段名即第 3 行的字段代码（不超过 10 个字符）"],
        ["GeoPackage（.gpkg）", f"图层名为 {layers} 之一，或文件中只有一个图层"],
        ["GeoJSON（.geojson/.json）", "坐标为经纬度（WGS 84 或 CGCS2000）"],
    ]
    if contract.coordinates is not None:
        c = contract.coordinates
        formats += [["CSV（UTF-8、带 BOM 的 UTF-8、GBK、GB18030）",
                     f"经纬度写在 {c.lon}、{c.lat} 两列（十进制度）；表头上方可有一行标题"],
                    ["XLSX", "读取第一个工作表；可直接使用本模板"]]
    after = _table(ws, 2, ["格式", "要求"], formats, head, cell)
    crs_rows = _crs_rows(region)
    if contract.geometry == "MultiPolygon":
        crs_rows.append(["GCJ-02", "高德/腾讯地图坐标（加偏）", "经纬度", "面图层不接受：无法在 .prj 中声明，"
                         "且偏移 400–700 米"])
        note = ("Shapefile 须附 .prj；缺少 .prj 时按坐标推断坐标系（推断结果写入答复），"
                "推断不出则整个文件退回。面积按 CGCS2000 椭球计算：平方米，或亩（1 亩 = 10000/15 平方米）。")
    else:
        assert contract.coordinates is not None
        c = contract.coordinates
        crs_rows.append(["GCJ-02", "高德/腾讯地图坐标（加偏）", "经纬度",
                         "接受：在坐标系列写 GCJ02，入库时纠偏到 CGCS2000"])
        said = f"在 {c.crs_field} 列写明坐标系（CGCS2000、WGS84 或 GCJ02）" if c.crs_field else "无法逐行声明坐标系"
        note = f"点坐标：{said}；未写明时按 {c.default_crs} 处理。经纬度不要互换，也不要填投影坐标（米）。"
    after = _table(ws, after, ["坐标系", "名称", "单位", "说明"], crs_rows, head, cell)
    ws.write_string(after, 0, note, wb.add_format({"num_format": "@"}))
    for col, width in enumerate((26, 48, 12, 60)):
        ws.set_column(col, col, width)
