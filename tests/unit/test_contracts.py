"""Contracts are the single source: complete against DATASETS.md, and derived files in sync."""

from __future__ import annotations

import pytest

from pipelines import codegen
from pipelines.contracts import DATASETS, load_contract, load_region, normalise_header

# Every field DATASETS.md lists, per dataset.
DOCUMENTED = {
    "admin_divisions": "XZQDM XZQMC",
    "farmland_pbf": "BSM XZQDM XZQMC YJJBNTTBBH TBBH DLBM DLMC QSXZ QSDWDM QSDWMC ZLDWDM ZLDWMC "
                    "YJJBNTTBMJ GDDB SJNF ZRRMC ZRRZJHM LXDH",
    "farmland_hsf": "XMBH XMMC JSND XZQDM JSMJ XZGDMJ ZTZ JSZT YSRQ ZLDJ",
    "licenses": "TYSHXYDM ZTMC ZTLX FDDBR CLRQ DJJG JYFW ZS XZQDM JD WD ZBXT ZZLX ZZBH YXQQ YXQZ "
                "DJZT",
    "complaints": "GDBH SLSJ GDLY GDLX NRMS SQDZ JD WD XZQDM ZBDW PDSJ SCLXSJ BLYJSJ BJSJ BLJG MYD "
                  "SJQYMC SJQYXYDM YWFL1 YWFL2 YWFL3 LDRXM LDRDH LDRZJHM",
}
PERSONAL = {"ZRRMC", "ZRRZJHM", "LXDH", "LDRXM", "LDRDH", "LDRZJHM"}


@pytest.mark.parametrize("dataset", DATASETS)
def test_contract_covers_every_documented_field(dataset: str) -> None:
    contract = load_contract(dataset)
    codes = [f.code for f in contract.fields]
    assert codes == DOCUMENTED[dataset].split()
    assert all(f.label for f in contract.fields)
    assert {f.code for f in contract.fields if f.pii} == PERSONAL & set(codes)


def test_derived_files_match_their_contracts() -> None:
    drifted = [p for p, text in codegen.derived_files().items()
               if not p.exists() or p.read_text(encoding="utf-8") != text]
    assert drifted == [], "run `python -m pipelines.codegen`"


def test_header_spellings_fold_to_one_column() -> None:
    mapping = load_contract("farmland_pbf").header_map()
    for spelling in ("YJJBNTTBBH", "yjjbnttbbh", " ＹＪＪＢＮＴＴＢＢＨ ", "永久基本农田图斑编号",
                     "JBNTTBBH", "基本农田图斑编号"):
        assert mapping[normalise_header(spelling)] == "yjjbnttbbh"
    assert mapping[normalise_header("JBNTMJ")] == "yjjbnttbmj"


def test_region_has_hainan_counties() -> None:
    region = load_region()
    assert len(region.counties) == 24
    assert "469001" in region.county_codes and region.county_name("460400") == "儋州市"


def test_suite_severity_follows_datasets_md() -> None:
    from pipelines.validate.suite import build_suite

    suite = build_suite(load_contract("licenses"), load_region())
    by_rule = {e["meta"]["rule"]: e["meta"]["severity"] for e in suite["expectations"]}
    assert by_rule["uscc_check"] == "warn"  # flagged and loaded, not dropped
    assert by_rule["domain"] == "fail" and by_rule["geometry_in_region"] == "fail"
