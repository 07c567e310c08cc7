-- Generated from schemas/farmland_hsf.yml by `python -m pipelines.codegen`;
-- do not edit by hand.
CREATE TABLE IF NOT EXISTS core.farmland_hsf (
    _version_id bigserial PRIMARY KEY,
    xmbh text,
    xmmc text,
    jsnd bigint,
    xzqdm text,
    jsmj double precision,
    xzgdmj double precision,
    ztz double precision,
    jszt text,
    ysrq date,
    zldj text,
    _drop_id text NOT NULL,
    _source_file text,
    _source_row bigint NOT NULL,
    _flags text,
    _valid_from timestamptz NOT NULL,
    _valid_to timestamptz,
    _closed_by text,
    geom geometry(MultiPolygon, 4490)
);
CREATE INDEX IF NOT EXISTS farmland_hsf_geom_current ON core.farmland_hsf USING gist (geom) WHERE _valid_to IS NULL;
DROP INDEX IF EXISTS core.farmland_hsf_geom_gist;
CREATE INDEX IF NOT EXISTS farmland_hsf_drop ON core.farmland_hsf (_drop_id);
CREATE INDEX IF NOT EXISTS farmland_hsf_closed_by ON core.farmland_hsf (_closed_by) WHERE _closed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS farmland_hsf_xzqdm_current ON core.farmland_hsf (xzqdm) WHERE _valid_to IS NULL;
COMMENT ON TABLE core.farmland_hsf IS '高标准农田建设项目区（农业农村局）';
COMMENT ON COLUMN core.farmland_hsf.xmbh IS '项目编号';
COMMENT ON COLUMN core.farmland_hsf.xmmc IS '项目名称';
COMMENT ON COLUMN core.farmland_hsf.jsnd IS '建设年度';
COMMENT ON COLUMN core.farmland_hsf.xzqdm IS '县级行政区划代码';
COMMENT ON COLUMN core.farmland_hsf.jsmj IS '建设面积';
COMMENT ON COLUMN core.farmland_hsf.xzgdmj IS '新增耕地面积';
COMMENT ON COLUMN core.farmland_hsf.ztz IS '总投资';
COMMENT ON COLUMN core.farmland_hsf.jszt IS '建设状态';
COMMENT ON COLUMN core.farmland_hsf.ysrq IS '验收日期';
COMMENT ON COLUMN core.farmland_hsf.zldj IS '质量等级';
COMMENT ON COLUMN core.farmland_hsf._drop_id IS '首次报送该版本的批次（drop id）';
COMMENT ON COLUMN core.farmland_hsf._source_file IS '来源文件';
COMMENT ON COLUMN core.farmland_hsf._source_row IS '来源文件行号（或要素序号）';
COMMENT ON COLUMN core.farmland_hsf._flags IS '警告规则（已入库并标记）';
COMMENT ON COLUMN core.farmland_hsf._valid_from IS '生效时间';
COMMENT ON COLUMN core.farmland_hsf._valid_to IS '失效时间（为空表示现行）';
COMMENT ON COLUMN core.farmland_hsf._closed_by IS '替代该版本的报送批次（drop id）';
COMMENT ON COLUMN core.farmland_hsf.geom IS '几何（CGCS2000, EPSG:4490）';
