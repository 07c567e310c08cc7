-- Generated from schemas/licenses.yml by `python -m pipelines.codegen`;
-- do not edit by hand.
CREATE TABLE IF NOT EXISTS core.licenses (
    _version_id bigserial PRIMARY KEY,
    tyshxydm text,
    ztmc text,
    ztlx text,
    fddbr text,
    clrq date,
    djjg text,
    jyfw text,
    zs text,
    xzqdm text,
    jd double precision,
    wd double precision,
    zbxt text,
    zzlx text,
    zzbh text,
    yxqq date,
    yxqz date,
    djzt text,
    _drop_id text NOT NULL,
    _source_file text,
    _source_row bigint NOT NULL,
    _flags text,
    _valid_from timestamptz NOT NULL,
    _valid_to timestamptz,
    _closed_by text,
    geom geometry(Point, 4490)
);
CREATE INDEX IF NOT EXISTS licenses_geom_current ON core.licenses USING gist (geom) WHERE _valid_to IS NULL;
DROP INDEX IF EXISTS core.licenses_geom_gist;
CREATE INDEX IF NOT EXISTS licenses_drop ON core.licenses (_drop_id);
CREATE INDEX IF NOT EXISTS licenses_closed_by ON core.licenses (_closed_by) WHERE _closed_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS licenses_current ON core.licenses (zzbh) WHERE _valid_to IS NULL;
COMMENT ON TABLE core.licenses IS '证照（市场监督管理局）';
COMMENT ON COLUMN core.licenses.tyshxydm IS '统一社会信用代码';
COMMENT ON COLUMN core.licenses.ztmc IS '主体名称';
COMMENT ON COLUMN core.licenses.ztlx IS '主体类型';
COMMENT ON COLUMN core.licenses.fddbr IS '法定代表人';
COMMENT ON COLUMN core.licenses.clrq IS '成立日期';
COMMENT ON COLUMN core.licenses.djjg IS '登记机关';
COMMENT ON COLUMN core.licenses.jyfw IS '经营范围';
COMMENT ON COLUMN core.licenses.zs IS '住所';
COMMENT ON COLUMN core.licenses.xzqdm IS '行政区划代码';
COMMENT ON COLUMN core.licenses.jd IS '经度';
COMMENT ON COLUMN core.licenses.wd IS '纬度';
COMMENT ON COLUMN core.licenses.zbxt IS '坐标系';
COMMENT ON COLUMN core.licenses.zzlx IS '证照类型';
COMMENT ON COLUMN core.licenses.zzbh IS '证照编号';
COMMENT ON COLUMN core.licenses.yxqq IS '有效期起';
COMMENT ON COLUMN core.licenses.yxqz IS '有效期至';
COMMENT ON COLUMN core.licenses.djzt IS '登记状态';
COMMENT ON COLUMN core.licenses._drop_id IS '首次报送该版本的批次（drop id）';
COMMENT ON COLUMN core.licenses._source_file IS '来源文件';
COMMENT ON COLUMN core.licenses._source_row IS '来源文件行号（或要素序号）';
COMMENT ON COLUMN core.licenses._flags IS '警告规则（已入库并标记）';
COMMENT ON COLUMN core.licenses._valid_from IS '生效时间';
COMMENT ON COLUMN core.licenses._valid_to IS '失效时间（为空表示现行）';
COMMENT ON COLUMN core.licenses._closed_by IS '替代该版本的报送批次（drop id）';
COMMENT ON COLUMN core.licenses.geom IS '几何（CGCS2000, EPSG:4490）';
