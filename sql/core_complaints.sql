-- Generated from schemas/complaints.yml by `python -m pipelines.codegen`;
-- do not edit by hand.
CREATE TABLE IF NOT EXISTS core.complaints (
    _version_id bigserial PRIMARY KEY,
    gdbh text,
    slsj timestamp,
    gdly text,
    gdlx text,
    nrms text,
    sqdz text,
    jd double precision,
    wd double precision,
    xzqdm text,
    zbdw text,
    pdsj timestamp,
    sclxsj timestamp,
    blyjsj timestamp,
    bjsj timestamp,
    bljg text,
    myd text,
    sjqymc text,
    sjqyxydm text,
    ywfl1 text,
    ywfl2 text,
    ywfl3 text,
    ldrxm_token text,
    ldrxm_masked text,
    ldrdh_token text,
    ldrdh_masked text,
    ldrzjhm_token text,
    ldrzjhm_masked text,
    ldrzjhm_check_ok boolean,
    _drop_id text NOT NULL,
    _source_file text,
    _source_row bigint NOT NULL,
    _flags text,
    _valid_from timestamptz NOT NULL,
    _valid_to timestamptz,
    _closed_by text,
    geom geometry(Point, 4490)
);
CREATE INDEX IF NOT EXISTS complaints_geom_current ON core.complaints USING gist (geom) WHERE _valid_to IS NULL;
DROP INDEX IF EXISTS core.complaints_geom_gist;
CREATE INDEX IF NOT EXISTS complaints_drop ON core.complaints (_drop_id);
CREATE INDEX IF NOT EXISTS complaints_closed_by ON core.complaints (_closed_by) WHERE _closed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS complaints_current ON core.complaints (gdbh) WHERE _valid_to IS NULL;
COMMENT ON TABLE core.complaints IS '12345热线工单（12345政务服务便民热线）';
COMMENT ON COLUMN core.complaints.gdbh IS '工单编号';
COMMENT ON COLUMN core.complaints.slsj IS '受理时间';
COMMENT ON COLUMN core.complaints.gdly IS '工单来源';
COMMENT ON COLUMN core.complaints.gdlx IS '工单类型';
COMMENT ON COLUMN core.complaints.nrms IS '内容描述';
COMMENT ON COLUMN core.complaints.sqdz IS '诉求地址';
COMMENT ON COLUMN core.complaints.jd IS '经度';
COMMENT ON COLUMN core.complaints.wd IS '纬度';
COMMENT ON COLUMN core.complaints.xzqdm IS '行政区划代码';
COMMENT ON COLUMN core.complaints.zbdw IS '主办单位';
COMMENT ON COLUMN core.complaints.pdsj IS '派单时间';
COMMENT ON COLUMN core.complaints.sclxsj IS '首次联系时间';
COMMENT ON COLUMN core.complaints.blyjsj IS '提出办理意见时间';
COMMENT ON COLUMN core.complaints.bjsj IS '办结时间';
COMMENT ON COLUMN core.complaints.bljg IS '办理结果';
COMMENT ON COLUMN core.complaints.myd IS '满意度';
COMMENT ON COLUMN core.complaints.sjqymc IS '涉及企业名称';
COMMENT ON COLUMN core.complaints.sjqyxydm IS '涉及企业统一社会信用代码';
COMMENT ON COLUMN core.complaints.ywfl1 IS '业务分类1';
COMMENT ON COLUMN core.complaints.ywfl2 IS '业务分类2';
COMMENT ON COLUMN core.complaints.ywfl3 IS '业务分类3';
COMMENT ON COLUMN core.complaints.ldrxm_token IS '来电人姓名（HMAC令牌）';
COMMENT ON COLUMN core.complaints.ldrxm_masked IS '来电人姓名（脱敏）';
COMMENT ON COLUMN core.complaints.ldrdh_token IS '来电人电话（HMAC令牌）';
COMMENT ON COLUMN core.complaints.ldrdh_masked IS '来电人电话（脱敏）';
COMMENT ON COLUMN core.complaints.ldrzjhm_token IS '来电人证件号码（HMAC令牌）';
COMMENT ON COLUMN core.complaints.ldrzjhm_masked IS '来电人证件号码（脱敏）';
COMMENT ON COLUMN core.complaints.ldrzjhm_check_ok IS '来电人证件号码校验位正确';
COMMENT ON COLUMN core.complaints._drop_id IS '首次报送该版本的批次（drop id）';
COMMENT ON COLUMN core.complaints._source_file IS '来源文件';
COMMENT ON COLUMN core.complaints._source_row IS '来源文件行号（或要素序号）';
COMMENT ON COLUMN core.complaints._flags IS '警告规则（已入库并标记）';
COMMENT ON COLUMN core.complaints._valid_from IS '生效时间';
COMMENT ON COLUMN core.complaints._valid_to IS '失效时间（为空表示现行）';
COMMENT ON COLUMN core.complaints._closed_by IS '替代该版本的报送批次（drop id）';
COMMENT ON COLUMN core.complaints.geom IS '几何（CGCS2000, EPSG:4490）';
