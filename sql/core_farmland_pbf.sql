-- Generated from schemas/farmland_pbf.yml by `python -m pipelines.codegen`;
-- do not edit by hand.
CREATE TABLE IF NOT EXISTS core.farmland_pbf (
    _version_id bigserial PRIMARY KEY,
    bsm bigint,
    xzqdm text,
    xzqmc text,
    yjjbnttbbh text,
    tbbh text,
    dlbm text,
    dlmc text,
    qsxz text,
    qsdwdm text,
    qsdwmc text,
    zldwdm text,
    zldwmc text,
    yjjbnttbmj double precision,
    gddb bigint,
    sjnf bigint,
    zrrmc_token text,
    zrrmc_masked text,
    zrrzjhm_token text,
    zrrzjhm_masked text,
    zrrzjhm_check_ok boolean,
    lxdh_token text,
    lxdh_masked text,
    _drop_id text NOT NULL,
    _source_file text,
    _source_row bigint NOT NULL,
    _flags text,
    _valid_from timestamptz NOT NULL,
    _valid_to timestamptz,
    _closed_by text,
    geom geometry(MultiPolygon, 4490)
);
CREATE INDEX IF NOT EXISTS farmland_pbf_geom_current ON core.farmland_pbf USING gist (geom) WHERE _valid_to IS NULL;
DROP INDEX IF EXISTS core.farmland_pbf_geom_gist;
CREATE INDEX IF NOT EXISTS farmland_pbf_drop ON core.farmland_pbf (_drop_id);
CREATE INDEX IF NOT EXISTS farmland_pbf_closed_by ON core.farmland_pbf (_closed_by) WHERE _closed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS farmland_pbf_current ON core.farmland_pbf (yjjbnttbbh) WHERE _valid_to IS NULL;
CREATE INDEX IF NOT EXISTS farmland_pbf_xzqdm_current ON core.farmland_pbf (xzqdm) WHERE _valid_to IS NULL;
COMMENT ON TABLE core.farmland_pbf IS '永久基本农田保护图斑（自然资源和规划局）';
COMMENT ON COLUMN core.farmland_pbf.bsm IS '标识码';
COMMENT ON COLUMN core.farmland_pbf.xzqdm IS '行政区代码';
COMMENT ON COLUMN core.farmland_pbf.xzqmc IS '行政区名称';
COMMENT ON COLUMN core.farmland_pbf.yjjbnttbbh IS '永久基本农田图斑编号';
COMMENT ON COLUMN core.farmland_pbf.tbbh IS '图斑编号';
COMMENT ON COLUMN core.farmland_pbf.dlbm IS '地类编码';
COMMENT ON COLUMN core.farmland_pbf.dlmc IS '地类名称';
COMMENT ON COLUMN core.farmland_pbf.qsxz IS '权属性质';
COMMENT ON COLUMN core.farmland_pbf.qsdwdm IS '权属单位代码';
COMMENT ON COLUMN core.farmland_pbf.qsdwmc IS '权属单位名称';
COMMENT ON COLUMN core.farmland_pbf.zldwdm IS '坐落单位代码';
COMMENT ON COLUMN core.farmland_pbf.zldwmc IS '坐落单位名称';
COMMENT ON COLUMN core.farmland_pbf.yjjbnttbmj IS '永久基本农田图斑面积';
COMMENT ON COLUMN core.farmland_pbf.gddb IS '耕地等别';
COMMENT ON COLUMN core.farmland_pbf.sjnf IS '数据年份';
COMMENT ON COLUMN core.farmland_pbf.zrrmc_token IS '责任人名称（HMAC令牌）';
COMMENT ON COLUMN core.farmland_pbf.zrrmc_masked IS '责任人名称（脱敏）';
COMMENT ON COLUMN core.farmland_pbf.zrrzjhm_token IS '责任人证件号码（HMAC令牌）';
COMMENT ON COLUMN core.farmland_pbf.zrrzjhm_masked IS '责任人证件号码（脱敏）';
COMMENT ON COLUMN core.farmland_pbf.zrrzjhm_check_ok IS '责任人证件号码校验位正确';
COMMENT ON COLUMN core.farmland_pbf.lxdh_token IS '联系电话（HMAC令牌）';
COMMENT ON COLUMN core.farmland_pbf.lxdh_masked IS '联系电话（脱敏）';
COMMENT ON COLUMN core.farmland_pbf._drop_id IS '首次报送该版本的批次（drop id）';
COMMENT ON COLUMN core.farmland_pbf._source_file IS '来源文件';
COMMENT ON COLUMN core.farmland_pbf._source_row IS '来源文件行号（或要素序号）';
COMMENT ON COLUMN core.farmland_pbf._flags IS '警告规则（已入库并标记）';
COMMENT ON COLUMN core.farmland_pbf._valid_from IS '生效时间';
COMMENT ON COLUMN core.farmland_pbf._valid_to IS '失效时间（为空表示现行）';
COMMENT ON COLUMN core.farmland_pbf._closed_by IS '替代该版本的报送批次（drop id）';
COMMENT ON COLUMN core.farmland_pbf.geom IS '几何（CGCS2000, EPSG:4490）';
