"""Core table columns derived from a contract: the DDL and the loader both use these."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.contracts import Contract

SQL_TYPE = {
    "string": "text",
    "integer": "bigint",
    "number": "double precision",
    "date": "date",
    "datetime": "timestamp",
    "boolean": "boolean",
}

# Every core row says where it came from and when it was current.
LINEAGE = (
    ("_drop_id", "text", "首次报送该版本的批次（drop id）"),
    ("_source_file", "text", "来源文件"),
    ("_source_row", "integer", "来源文件行号（或要素序号）"),
    ("_flags", "text", "警告规则（已入库并标记）"),
    ("_valid_from", "timestamptz", "生效时间"),
    ("_valid_to", "timestamptz", "失效时间（为空表示现行）"),
    ("_closed_by", "text", "替代该版本的报送批次（drop id）"),
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # a key of SQL_TYPE, or a lineage SQL type
    label: str

    @property
    def sql_type(self) -> str:
        return SQL_TYPE.get(self.kind, self.kind)


def attribute_columns(contract: Contract) -> list[Column]:
    cols: list[Column] = []
    for f in contract.fields:
        if f.pii:
            cols.append(Column(f"{f.column}_token", "string", f"{f.label}（HMAC令牌）"))
            cols.append(Column(f"{f.column}_masked", "string", f"{f.label}（脱敏）"))
        else:
            cols.append(Column(f.column, f.type, f.label))
        if f.check == "id_card":
            cols.append(Column(f"{f.column}_check_ok", "boolean", f"{f.label}校验位正确"))
    return cols


def core_columns(contract: Contract) -> list[Column]:
    return attribute_columns(contract) + [Column(*c) for c in LINEAGE]


def geometry_sql(contract: Contract) -> str:
    return f"geometry({contract.geometry}, 4490)"
