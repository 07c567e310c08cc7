-- Generated from schemas/admin_divisions.yml by `python -m pipelines.codegen`;
-- do not edit by hand.
CREATE TABLE IF NOT EXISTS core.admin_divisions (
    _version_id bigserial PRIMARY KEY,
    xzqdm text,
    xzqmc text,
    _drop_id text NOT NULL,
    _source_file text,
    _source_row bigint NOT NULL,
    _flags text,
    _valid_from timestamptz NOT NULL,
    _valid_to timestamptz,
    _closed_by text,
    geom geometry(MultiPolygon, 4490)
);
CREATE INDEX IF NOT EXISTS admin_divisions_geom_current ON core.admin_divisions USING gist (geom) WHERE _valid_to IS NULL;
DROP INDEX IF EXISTS core.admin_divisions_geom_gist;
CREATE INDEX IF NOT EXISTS admin_divisions_drop ON core.admin_divisions (_drop_id);
CREATE INDEX IF NOT EXISTS admin_divisions_closed_by ON core.admin_divisions (_closed_by) WHERE _closed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS admin_divisions_current ON core.admin_divisions (xzqdm) WHERE _valid_to IS NULL;
COMMENT ON TABLE core.admin_divisions IS '行政区划（自然资源和规划局）';
COMMENT ON COLUMN core.admin_divisions.xzqdm IS '行政区划代码';
COMMENT ON COLUMN core.admin_divisions.xzqmc IS '行政区划名称';
COMMENT ON COLUMN core.admin_divisions._drop_id IS '首次报送该版本的批次（drop id）';
COMMENT ON COLUMN core.admin_divisions._source_file IS '来源文件';
COMMENT ON COLUMN core.admin_divisions._source_row IS '来源文件行号（或要素序号）';
COMMENT ON COLUMN core.admin_divisions._flags IS '警告规则（已入库并标记）';
COMMENT ON COLUMN core.admin_divisions._valid_from IS '生效时间';
COMMENT ON COLUMN core.admin_divisions._valid_to IS '失效时间（为空表示现行）';
COMMENT ON COLUMN core.admin_divisions._closed_by IS '替代该版本的报送批次（drop id）';
COMMENT ON COLUMN core.admin_divisions.geom IS '几何（CGCS2000, EPSG:4490）';
