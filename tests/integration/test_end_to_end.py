"""The whole pipeline on both warehouses, checked against the sample generator's ground truth
and against areas computed independently of the integration code."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from pipelines.config import settings
from pipelines.contracts import load_contract
from pipelines.geodesy import GEOD, M2_PER_MU
from pipelines.landing.drops import drop_file
from pipelines.runner import RunSummary, run_all, status, warehouse
from tests.conftest import WAREHOUSES, fresh_database, set_yitu_env

PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")


@pytest.fixture(scope="module", params=WAREHOUSES)
def loaded(request: pytest.FixtureRequest, sample_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunSummary]:
    """The sample drops run once per warehouse; the read-only checks below share the result."""
    with ExitStack() as stack:
        url = None
        if request.param == "postgis":
            url = stack.enter_context(fresh_database(request.getfixturevalue("postgis_server")))
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        set_yitu_env(mp, tmp_path_factory.mktemp("home"), url)
        _drop_all(sample_dir)
        yield run_all(settings())


def _manifest(sample_dir: Path) -> dict:
    return json.loads((sample_dir / "manifest.json").read_text("utf-8"))


def _drop_all(sample_dir: Path) -> None:
    for f in _manifest(sample_dir)["files"]:
        drop_file(settings(), sample_dir / f["file"], f["dataset"])


def _area_mu(shape: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(shape)[0]) / M2_PER_MU


def _union_area_mu(geoms: gpd.GeoSeries) -> float:
    return _area_mu(shapely.union_all(geoms.values))


# Published areas are rounded to the cm2 per piece: over the sample's ~700 pieces the sums
# agree with an independent union to well under a square metre (0.0015 mu).
AREA_TOLERANCE_MU = 0.0015


def test_sample_drops_flow_to_six_layers(loaded: RunSummary, sample_dir: Path) -> None:
    summary = loaded
    manifest = _manifest(sample_dir)

    # Every drop answered, with the generator's exact counts of bad and flagged rows.
    by_dataset = {d.dataset: d for d in summary.drops}
    assert set(by_dataset) == {f["dataset"] for f in manifest["files"]}
    wh = warehouse(settings())
    quarantine = wh.read_table(f"SELECT dataset, rule, severity, source_row "
                               f"FROM {wh.tables.quarantine.fullname}")
    for f in manifest["files"]:
        d = by_dataset[f["dataset"]]
        assert d.state == "loaded", (d.dataset, d.errors[:3])
        assert d.rows_read == f["rows"]
        assert d.rows_loaded == f["expected_loaded"]
        assert d.rows_quarantined == sum(f["bad_rows"].values())
        assert d.rows_flagged == sum(f["warn_rows"].values())
        mine = quarantine[quarantine["dataset"] == f["dataset"]]
        for severity, expected in (("fail", f["bad_rows"]), ("warn", f["warn_rows"])):
            rows_by_rule = (mine[mine["severity"] == severity]
                            .groupby("rule")["source_row"].nunique().to_dict())
            assert rows_by_rule == expected, (f["dataset"], severity)

    # The published layers, computed from the loaded rows.
    assert set(wh.published_layers()) >= {"farmland_base_map", "farmland_conflicts",
                                          "licenses_on_farmland", "complaints_enriched",
                                          "enterprise_profile", "region_summary"}
    pbf = wh.read_current(load_contract("farmland_pbf"))
    hsf = wh.read_current(load_contract("farmland_hsf"))
    base = wh.read_published("farmland_base_map")
    areas = base.groupby("class")["area_m2"].sum() / M2_PER_MU
    assert set(areas.index) == {"pbf_and_hsf", "pbf_only", "hsf_only"}
    pbf_union, hsf_union = shapely.union_all(pbf.geometry.values), shapely.union_all(
        hsf.geometry.values)
    both = _area_mu(shapely.intersection(pbf_union, hsf_union))
    assert areas["pbf_and_hsf"] + areas["pbf_only"] == pytest.approx(
        _area_mu(pbf_union), abs=AREA_TOLERANCE_MU)
    assert areas["pbf_and_hsf"] + areas["hsf_only"] == pytest.approx(
        _area_mu(hsf_union), abs=AREA_TOLERANCE_MU)
    assert areas["pbf_and_hsf"] == pytest.approx(both, abs=AREA_TOLERANCE_MU)
    assert base.crs.to_epsg() == 4490

    conflict_layer = wh.read_published("farmland_conflicts")
    conflicts = conflict_layer["conflict_type"].value_counts()
    assert conflicts["pbf_overlap"] == manifest["planted"]["pbf_overlap"]
    assert conflicts["county_mismatch"] == manifest["planted"]["county_mismatch"]
    # the sample's projects reach out of PBF by whole fields, never by slivers: every
    # project-only piece is reported, and their area is HSF minus its part on PBF
    assert conflicts["hsf_outside_pbf"] == (base["class"] == "hsf_only").sum()
    outside = conflict_layer.loc[conflict_layer["conflict_type"] == "hsf_outside_pbf", "area_mu"]
    assert outside.sum() == pytest.approx(_area_mu(hsf_union) - both, abs=AREA_TOLERANCE_MU)

    on_farmland = wh.read_published("licenses_on_farmland")
    assert set(on_farmland.geom_type) == {"Point"}
    assert len(on_farmland) == manifest["planted"]["licenses_on_pbf"]
    assert on_farmland["pbf_id"].isin(set(pbf["yjjbnttbbh"])).all()

    complaints = wh.read_published("complaints_enriched")
    expected_orders = next(f for f in manifest["files"] if f["dataset"] == "complaints")
    assert len(complaints) == expected_orders["expected_loaded"]
    assert complaints["county_code"].notna().all()
    assert complaints["uscc"].notna().sum() > 0
    assert complaints["caller_phone_masked"].dropna().str.contains(r"\*\*\*\*").all()

    licenses = wh.read_current(load_contract("licenses"))
    profile = wh.read_published("enterprise_profile")
    assert len(profile) == licenses["tyshxydm"].nunique()
    assert profile["licenses"].sum() == len(licenses)

    summary_layer = wh.read_published("region_summary")
    assert len(summary_layer) == 24
    assert summary_layer["licenses"].sum() == len(licenses)
    assert summary_layer["complaints"].sum() == len(complaints)
    by_county = summary_layer.set_index("county_code")
    assert set(by_county.index) == set(base["county_code"].dropna())
    assert by_county["pbf_area_mu"].sum() == pytest.approx(_area_mu(pbf_union), abs=0.01)
    assert by_county["hsf_area_mu"].sum() == pytest.approx(_area_mu(hsf_union), abs=0.01)
    assert by_county["hsf_on_pbf_area_mu"].sum() == pytest.approx(both, abs=0.01)
    assert by_county["licenses_on_pbf"].sum() == manifest["planted"]["licenses_on_pbf"]
    for code, county in by_county.iterrows():  # each county's figures from its own rows
        mine = complaints[complaints["county_code"] == code]
        assert county["complaints"] == len(mine)
        contact = mine["contact_within_2h"].dropna().astype(bool)
        assert county["sla_contact_rate"] == pytest.approx(contact.mean(), abs=1e-4)
        pbf_mu = base.loc[(base["county_code"] == code) & base["class"].isin(
            ["pbf_and_hsf", "pbf_only"]), "area_m2"].sum() / M2_PER_MU
        assert county["pbf_area_mu"] == pytest.approx(pbf_mu, abs=1e-3)


def test_rerun_is_safe_and_resend_is_a_duplicate(home: Path, sample_dir: Path) -> None:
    _drop_all(sample_dir)
    run_all(settings())
    wh = warehouse(settings())
    before = {c: len(wh.read_current(load_contract(c))) for c in ("farmland_pbf", "complaints")}

    assert run_all(settings()).drops == []  # nothing pending: nothing happens
    drop_file(settings(), sample_dir / "complaints.csv", "complaints")
    again = run_all(settings())
    assert again.drops == []  # a duplicate is answered at detection, never loaded
    drops = status(settings())
    dup = [d for d in drops if d.state == "duplicate"]
    assert len(dup) == 1 and dup[0].duplicate_of is not None
    after = {c: len(wh.read_current(load_contract(c))) for c in ("farmland_pbf", "complaints")}
    assert after == before
    assert len(list((home / "raw" / "complaints").rglob("*.csv"))) == 2  # both files kept


def test_personal_data_never_in_clear_text(loaded: RunSummary) -> None:
    wh = warehouse(settings())
    frames = [wh.read_current(load_contract(c)) for c in ("farmland_pbf", "complaints")]
    frames.append(wh.read_table(f"SELECT * FROM {wh.tables.quarantine.fullname}"))
    frames += [wh.read_published(n) for n in wh.published_layers()]
    for frame in frames:
        text = pd.DataFrame(frame).select_dtypes(include=["object", "string"])
        for col in text.columns:
            values = text[col].dropna().astype(str)
            if col == "record":  # quarantined rows as JSON: check their non-token values
                values = values.map(lambda r: json.dumps(
                    {k: v for k, v in json.loads(r).items() if not k.endswith("_token")},
                    ensure_ascii=False))
            if col.endswith("_token") or col == "caller_token":
                assert values.str.fullmatch(r"[0-9a-f]{64}").all(), col  # HMAC, not the value
                continue
            assert not values.str.contains(PHONE).any(), col
            assert not values.str.contains(ID_NUMBER).any(), col
    for col in ("zrrmc", "zrrzjhm", "lxdh"):
        assert col not in frames[0].columns


def test_postgis_refuses_personal_data_without_a_key(yitu_env: Path, postgis_url: str,
                                                      sample_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YITU_WAREHOUSE_URL", postgis_url)
    monkeypatch.delenv("YITU_PII_KEY")
    drop_file(settings(), sample_dir / "complaints.csv", "complaints")
    from pipelines.pii import PiiKeyMissing

    with pytest.raises(PiiKeyMissing):
        run_all(settings())
    assert [d.state for d in status(settings())] == ["pending"]  # nothing loaded, nothing lost
    assert not (yitu_env / "pii.key").exists()


def _ogrinfo(source: str) -> str:
    proc = subprocess.run(["ogrinfo", "-ro", "-so", "-al", source], capture_output=True,
                          text=True, check=True)
    assert "Warning" not in proc.stderr, proc.stderr
    return proc.stdout


def test_analyst_sees_typed_layers_through_gdal(loaded: RunSummary) -> None:
    """What QGIS shows an analyst: six layers in EPSG:4490 with their feature counts; on
    PostGIS connected as a role that can read `publish` and nothing else."""
    wh = warehouse(settings())
    counts = {name: len(wh.read_published(name)) for name in wh.published_layers()}
    url = settings().warehouse_url
    if url.startswith("gpkg:"):
        info = _ogrinfo(str(settings().home / "publish.gpkg"))
    else:
        from sqlalchemy import create_engine, exc, text
        from sqlalchemy.engine import make_url

        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text("CREATE ROLE analyst_anna LOGIN IN ROLE yitu_analyst"))
        u = make_url(url)
        dsn = f"PG:host={u.host} port={u.port} dbname={u.database} user=analyst_anna " \
              "schemas=publish"
        info = _ogrinfo(dsn)
        analyst = create_engine(u.set(username="analyst_anna"))
        with analyst.connect() as conn, pytest.raises(exc.ProgrammingError):
            conn.execute(text("SELECT count(*) FROM core.complaints"))  # personal tokens
        with analyst.connect() as conn, pytest.raises(exc.ProgrammingError):
            conn.execute(text("SELECT count(*) FROM dq.quarantine"))
        analyst.dispose()
        admin.dispose()
    layers = dict(re.findall(r"Layer name: (\w+)\n(?:.*\n)*?Feature Count: (\d+)", info))
    # the layers' default QGIS styles: a table beside them in the GeoPackage (in PostGIS, in
    # public.layer_styles, outside the schemas listed)
    styles = layers.pop("layer_styles", None)
    assert styles == (str(len(counts)) if url.startswith("gpkg:") else None)
    assert {k.split(".")[-1]: int(v) for k, v in layers.items()} == counts
    assert info.count('ID["EPSG",4490]') == len(counts)
    geometry_types = [g for g in re.findall(r"Geometry: (.+)", info) if g != "None"]
    assert len(geometry_types) == len(counts) and "Unknown (any)" not in geometry_types
