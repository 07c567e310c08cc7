"""Why a row failed and how to fix it, in the clerk's words, per rule.

Everything a hint needs comes in through `HintContext`: the contract and region, the
delivery's conformed frame (indexed by source row), county polygons when the caller has
them, and the check-character function of GB 32100.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Geod
from shapely.geometry.base import BaseGeometry

from pipelines.contracts import Contract, FieldSpec, Region
from pipelines.landing.field_rules import (
    TYPE_ZH,
    UNIT_ZH,
    USCC_LETTERS,
    allowed_text,
    describe_pattern,
    field_label,
    range_text,
)
from pipelines.load.workbook_geo import (
    county_at,
    geometry_problem,
    point_hint,
)
from pipelines.load.workbook_rows import RowNumbering, value_text

GEOD: Geod = CRS.from_epsg(4490).get_geod()  # type: ignore[assignment]  # CGCS2000 ellipsoid
M2_PER_MU = 10000 / 15

GENERIC_HINT: dict[str, str] = {
    "bad_characters": "请删除单元格中的空字符等不可见字符后重新导出",
    "required": "请补填该字段",
    "type": "请按规定类型填写：数字不带单位和文字，日期写成 2024-05-31",
    "damaged_code": "代码列被表格软件当成了数字，位数已丢失、无法恢复：请把该列设为「文本」格式"
                    "（或使用报送模板），从业务系统重新导出或重新录入完整代码",
    "domain": "请从代码表中选择（报送模板中为下拉列表）",
    "pattern": "请按规定格式填写（位数、字符）",
    "range": "请核对数值和单位",
    "key_unique": "同一编号在一次报送中只能出现一次：不同记录请更正编号，同一记录请删除重复行",
    "geometry_valid": "请在 GIS 软件中检查并修正图形（边界是法定记录，不做自动修复）",
    "geometry_in_region": "请核对坐标和坐标系：经纬度是否互换、是否填了投影坐标（米）",
    "dates_in_order": "请核对这两个时间的先后",
    "county_location": "请核对行政区划代码与位置，以实际所在县为准",
    "uscc_check": "请对照营业执照核对统一社会信用代码；核实无误的代码可保留",
    "id_card_check": "请对照身份证原件核对证件号码",
    "area_agrees": "请核对面积字段和图形",
}
FILE_HINT: dict[str, str] = {
    "too_large": "请拆分为多个较小的文件后重新报送",
    "missing_columns": "请补上缺少的列；表头可写字段代码或中文名称（见报送模板第 3 行）",
    "unreadable": "请确认文件能在 Excel/WPS 或 QGIS 中正常打开、扩展名与格式一致后重新报送",
    "encoding": "请把 CSV 另存为 UTF-8 或 GBK 编码后重新报送",
    "format": "请报送 zip 压缩的 Shapefile、GeoPackage、GeoJSON、CSV 或 XLSX",
    "file_empty": "文件中没有数据行：请确认导出了数据后重新报送",
    "crs": "请使用 CGCS2000（EPSG:4490）、CGCS2000 3 度带或 WGS 84，并附带 .prj",
    "duplicate_columns": "有两列对应同一个字段：请删除或改名其中一列",
}


@dataclass
class HintContext:
    contract: Contract
    region: Region
    frame: pd.DataFrame | None  # conformed rows indexed by source row (None: rejected whole)
    numbering: RowNumbering
    counties: Mapping[str, BaseGeometry] | None = None  # county code -> polygon (EPSG:4490)
    uscc_check_char: Callable[[str], str] | None = None
    _rows: dict[int, dict[str, Any]] = field(default_factory=dict, repr=False)
    _repeats: dict[str, dict[str, list[int]]] = field(default_factory=dict, repr=False)

    def prefetch(self, source_rows: Iterable[int]) -> None:
        """Take the failing rows out of the frame at once (not one lookup per failure)."""
        if self.frame is not None:
            wanted = self.frame.index.intersection(pd.Index(sorted(set(source_rows))))
            self._rows.update(self.frame.loc[wanted].to_dict(orient="index"))

    def row(self, source_row: int) -> Mapping[str, Any] | None:
        if source_row not in self._rows:
            if self.frame is None or source_row not in self.frame.index:
                return None
            self._rows[source_row] = dict(self.frame.loc[source_row])
        return self._rows[source_row]

    def repeats(self, column: str) -> dict[str, list[int]]:
        """Value -> the source rows holding it, for the values held by more than one row."""
        if column not in self._repeats:
            values = self.frame[column].astype("string") if self.frame is not None \
                and column in self.frame.columns else pd.Series(dtype="string")
            dup = values[values.duplicated(keep=False) & values.notna()]
            self._repeats[column] = {str(k): [int(i) for i in v]
                                     for k, v in dup.groupby(dup).groups.items()}
        return self._repeats[column]

    def spec(self, code: str) -> FieldSpec | None:
        return next((f for f in self.contract.fields if f.code == code), None)


def ellipsoidal_area_m2(geom: BaseGeometry | None) -> float:
    """Geodesic area on the CGCS2000 ellipsoid of a lon/lat (multi)polygon, holes taken out."""
    if geom is None or geom.is_empty:
        return float("nan")
    total = 0.0
    for part in shapely.get_parts(np.array([geom], dtype=object)):
        if part.geom_type != "Polygon":
            continue
        rings = [part.exterior, *part.interiors]
        areas = [abs(GEOD.polygon_area_perimeter(*np.asarray(r.xy))[0]) for r in rings]
        total += areas[0] - sum(areas[1:])
    return total


def file_hint(reason: Mapping[str, Any], contract: Contract) -> str:
    rule = str(reason.get("rule", ""))
    if rule == "too_many_bad_rows":
        return (f"被隔离的记录超过本数据集允许的 {contract.reject_threshold:.0%}，整个文件退回：请按"
                "「隔离」工作表逐条修改后重新报送整个文件")
    if rule == "layer":
        return f"请只保留一个图层，或把图层命名为 {'、'.join(contract.layer_names)} 之一"
    return FILE_HINT.get(rule, "请按原因修改后重新报送")


def _value(failure: Mapping[str, Any], row: Mapping[str, Any] | None, spec: FieldSpec | None
           ) -> str:
    if spec is not None and spec.pii:
        return value_text(row.get(f"{spec.column}_masked") if row else None)
    given = failure.get("value")
    if isinstance(given, str) and given:
        return given
    return value_text(row.get(spec.column) if row and spec else None,
                      spec.type if spec else "string")


def hint(failure: Mapping[str, Any], ctx: HintContext) -> str:
    """The fix for one failure, as specific as the row allows; the rule's generic advice
    where nothing more is known."""
    rule = str(failure.get("rule", ""))
    source_row = int(failure["source_row"])
    row = ctx.row(source_row)
    spec = ctx.spec(str(failure.get("field", "")))
    value = _value(failure, row, spec)
    generic = GENERIC_HINT.get(rule, "请按原因修改")
    if rule == "required" and spec:
        return f"请填写{field_label(spec)}"
    if rule == "type" and spec:
        return f"“{value}”不是{TYPE_ZH[spec.type]}：请按此类型填写"
    if rule == "domain" and spec:
        return _domain_hint(spec, value, ctx)
    if rule == "pattern" and spec and spec.pattern:
        return f"“{value}”不符合格式，应为：{describe_pattern(spec.pattern)}"
    if rule == "range" and spec:
        return f"“{value}”超出范围，应{range_text(spec)}"
    if rule == "key_unique" and spec:
        return _duplicate_hint(spec, value, source_row, ctx) or generic
    if rule == "uscc_check":
        return _uscc_hint(value, ctx) or generic
    if rule == "id_card_check":
        return (f"证件号码 {value} 的第 18 位校验码按 GB 11643 计算不符：请对照身份证原件核对；"
                "为保护个人信息，答复中只显示脱敏号码，不给出应有的校验码（该记录已入库并标记）")
    if rule == "area_agrees" and row is not None:
        return _area_hint(row, ctx) or generic
    if rule in ("geometry_in_region", "geometry_valid") and row is not None:
        specific = (point_hint(row, ctx.contract, ctx.region, ctx.counties)
                    if ctx.contract.geometry == "Point"
                    else geometry_problem(row.get("geometry"), rule, ctx.region))
        return specific or generic
    if rule == "county_location" and row is not None and spec:
        return _county_hint(row, value, ctx) or generic
    if rule == "dates_in_order":
        return _dates_hint(str(failure.get("field", "")), str(failure.get("value") or ""), ctx)
    return generic


def _domain_hint(spec: FieldSpec, value: str, ctx: HintContext) -> str:
    allowed = allowed_text(spec, ctx.region) or ""
    extra = ""
    if spec.domain_ref == "county_codes" and value.isdigit() and len(value) > 6 and \
            value[:6] in ctx.region.county_codes:
        extra = f"（这像是乡镇或村级代码，县级代码为前 6 位 {value[:6]}）"
    return f"“{value}”不在代码表中{extra}；允许的值：{allowed}"


def _duplicate_hint(spec: FieldSpec, value: str, source_row: int, ctx: HintContext) -> str | None:
    others = [r for r in ctx.repeats(spec.column).get(value, []) if r != source_row]
    if not others:
        return None
    where = "、".join(ctx.numbering.label(r) for r in others[:10])
    return (f"{field_label(spec)}“{value}”与{where}相同：同一编号在一次报送中只能出现一次，"
            "先出现的记录已处理，重复的未入库；不同记录请更正编号，同一记录请删除重复行")


def _uscc_hint(value: str, ctx: HintContext) -> str | None:
    if ctx.uscc_check_char is None or len(value) != 18 or \
            any(ch not in USCC_LETTERS for ch in value):
        return None
    right = ctx.uscc_check_char(value[:17])
    return (f"按 GB 32100 计算，第 18 位校验码应为“{right}”，现为“{value[17]}”：请对照营业执照核对"
            "（前 17 位录错也会使校验不符）；核实无误的代码可保留（该记录已入库并标记）")


def _area_hint(row: Mapping[str, Any], ctx: HintContext) -> str | None:
    check = ctx.contract.area_check
    if check is None:
        return None
    stated = pd.to_numeric(pd.Series([row.get(check.field.lower())]), errors="coerce").iloc[0]
    computed = ellipsoidal_area_m2(row.get("geometry"))
    if check.unit == "mu":
        computed /= M2_PER_MU
    if not (np.isfinite(stated) and np.isfinite(computed) and computed > 0):
        return None
    unit = UNIT_ZH[check.unit]
    spec = ctx.contract.field(check.field)
    return (f"填报的{spec.label} {stated:.2f} {unit}，按图形计算的椭球面积（CGCS2000）为 "
            f"{computed:.2f} {unit}，相差 {stated / computed - 1:+.1%}，允许误差 ±{check.tolerance:.0%}："
            "请核对面积字段，或图形是否画错、坐标系是否正确")


def _county_hint(row: Mapping[str, Any], value: str, ctx: HintContext) -> str | None:
    at = county_at(row.get("geometry"), ctx.counties)
    if at is None:
        return None
    said = ctx.region.county_name(value) or "未知"
    where = ctx.region.county_name(at) or at
    return (f"图形位于 {at}（{where}），而代码填的是 {value}（{said}）：请核对行政区划代码或位置"
            "（该记录已入库并标记）")


def _dates_hint(pair: str, value: str, ctx: HintContext) -> str:
    codes = pair.split("≤")
    specs = [ctx.spec(c) for c in codes]
    if len(codes) != 2 or None in specs:
        return GENERIC_HINT["dates_in_order"]
    a, b = (field_label(s) for s in specs if s is not None)
    return (f"{a}应早于或等于{b}，现为 {value}：请核对这两个时间"
            "（常见原因：日期录错、12/24 小时制混淆、办结后补录了更早的时间）")
