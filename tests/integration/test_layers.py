"""Hand-computed cases through the real warehouses (GeoPackage and PostGIS), end to end:
core rows loaded by the warehouse's loader, a 12345 CSV dropped and read by the real reader
(GCJ-02 inverse included), integrated, published, read back and exported.

Two counties side by side: A = 469021 (110.0-110.1E), B = 469022 (110.1-110.2E), 19.4-19.6N.
Expected areas are the hand-made rectangles below, measured with pyproj's Geod on CGCS2000;
expected working-day answers are counted by hand on the 2026 State Council calendar.
A year the calendar does not know (2027) is covered in tests/unit/test_workdays.py: here the
as-of moment is 16 Nov 2026 and a 2027 order would be a date in the future.
"""

from __future__ import annotations

import csv
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from shapely.geometry import box

from pipelines.config import settings
from pipelines.contracts import all_layers, load_contract
from pipelines.geodesy import GEOD, M2_PER_MU
from pipelines.landing.drops import drop_file
from pipelines.publish.export import export_layer
from pipelines.publish.layers import layer_labels
from pipelines.read.gcj02 import wgs84_to_gcj02
from pipelines.runner import run_all, warehouse

LABELS = layer_labels()
BOOLEAN_COLUMNS = {layer.layer: tuple(layer.columns_of_type("boolean"))
                   for layer in all_layers() if layer.columns_of_type("boolean")}

A, B = "469021", "469022"
LOADED_AT = datetime(2026, 11, 1, 8)

# Permanent basic farmland: P1, P2 overlapping P1's north-east quarter, P3 across the A|B
# line (stated A), P4 lying in B but stated A. High-standard farmland H1 covers P1's east half
# and reaches 0.001 degree further east, over part of P2.
P1 = box(110.010, 19.501, 110.011, 19.502)
P2 = box(110.0105, 19.5015, 110.0115, 19.5025)
P3 = box(110.099, 19.500, 110.101, 19.501)
P4 = box(110.150, 19.550, 110.151, 19.551)
H1 = box(110.0105, 19.501, 110.012, 19.502)
# The same overlay written out by hand as disjoint rectangles, per class and county.
EXPECTED_PIECES = {
    ("pbf_and_hsf", A): [box(110.0105, 19.501, 110.011, 19.502),
                         box(110.011, 19.5015, 110.0115, 19.502)],
    ("pbf_only", A): [box(110.010, 19.501, 110.0105, 19.502),
                      box(110.0105, 19.502, 110.0115, 19.5025),
                      box(110.099, 19.500, 110.100, 19.501)],
    ("hsf_only", A): [box(110.011, 19.501, 110.012, 19.5015),
                      box(110.0115, 19.5015, 110.012, 19.502)],
    ("pbf_only", B): [box(110.100, 19.500, 110.101, 19.501), P4],
}
# Pieces are polygons with extra vertices where outlines cross (an edge split in two follows
# two geodesics instead of one): a few mm2 on 100 m edges, so 0.05 m2 is the tolerance.
AREA_TOLERANCE_M2 = 0.05

# the parcels' west edge, where the two GCJ-02 geocoded work orders lie 0.5 m either side
EDGE_LON, EDGE_LAT = 110.010, 19.5015
HALF_METRE_DEG = 0.5 / 105_000


def geod_m2(shape: shapely.Geometry) -> float:
    return abs(GEOD.geometry_area_perimeter(shape)[0])


def _core(dataset: str, rows: dict[str, list[object]], geoms: list[object]) -> None:
    """Rows into core.<dataset> by the warehouse's own loader, as a drop would put them."""
    wh = warehouse(settings())
    frame = gpd.GeoDataFrame({**rows, "_drop_id": f"hand-{dataset}",
                              "_source_file": f"{dataset}.gpkg",
                              "_source_row": list(range(1, len(geoms) + 1))},
                             geometry=geoms, crs=4490)
    contract = load_contract(dataset)
    if contract.geometry.startswith("Multi"):
        frame = frame.set_geometry(shapely.multipolygons(
            np.asarray(frame.geometry.values, dtype=object)[:, None]))
    wh.load_core(contract, frame.rename_geometry("geom"), f"hand-{dataset}", LOADED_AT,
                 lambda conn: None)


def _complaints_csv(path: Path) -> None:
    """Work orders as the hotline exports them: GCJ-02 coordinates, local clock times."""
    true_lon = np.array([EDGE_LON + HALF_METRE_DEG, EDGE_LON - HALF_METRE_DEG, 110.05, 110.05])
    true_lat = np.full(4, EDGE_LAT)
    lon, lat = wgs84_to_gcj02(true_lon, true_lat)
    orders = [
        # Fri 9 Oct 15:00, the day before the make-up Saturday 10 Oct: proposal due Sat 15:00,
        # solved due 15 working days on (10,12-16,19-23,26-29 Oct) = Thu 29 Oct 15:00.
        ("G1", "2026-10-09 14:50", "2026-10-09 15:00", "2026-10-09 16:30", "2026-10-10 14:00",
         "2026-10-20 10:00", "满意"),
        # Thu 1 Oct, National Day: the clocks start Thu 8 Oct 00:00, the first working day;
        # proposal due Fri 9 Oct 00:00 (met on the 8th); still open at the as-of moment
        # (16 Nov) long after its solved deadline Wed 28 Oct 00:00: missed.
        ("G2", "2026-10-01 09:50", "2026-10-01 10:00", "2026-10-01 13:00", "2026-10-08 18:00",
         "", "未评价"),
        # Fri 13 Feb 16:00 before Spring Festival: proposal due on the make-up Saturday 14 Feb
        # at 16:00; given Tue 24 Feb, after the holiday: missed.
        ("G3", "2026-02-13 15:50", "2026-02-13 16:00", "2026-02-13 17:00", "2026-02-24 10:00",
         "2026-02-26 10:00", "不满意"),
        # Mon 16 Nov 09:00, judged at 12:00 the same day: contacted in time, the proposal is
        # not due until Tue 17 Nov 09:00, so not yet known (null), and neither is solved.
        ("G4", "2026-11-16 08:50", "2026-11-16 09:00", "2026-11-16 09:30", "", "", ""),
    ]
    with path.open("w", encoding="utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(["GDBH", "SLSJ", "GDLX", "JD", "WD", "XZQDM", "ZBDW", "PDSJ", "SCLXSJ",
                      "BLYJSJ", "BJSJ", "MYD", "SJQYMC"])
        for k, (gdbh, slsj, pdsj, sclxsj, blyjsj, bjsj, myd) in enumerate(orders):
            out.writerow([gdbh, slsj, "投诉", f"{lon[k]:.9f}", f"{lat[k]:.9f}", A, "农业农村局",
                          pdsj, sclxsj, blyjsj, bjsj, myd, "甲农业有限公司" if k == 0 else ""])


@pytest.fixture
def published(home: Path, tmp_path: Path) -> Path:
    _core("admin_divisions", {"xzqdm": [A, B], "xzqmc": ["定安县", "屯昌县"]},
          [box(110.0, 19.4, 110.1, 19.6), box(110.1, 19.4, 110.2, 19.6)])
    _core("farmland_pbf", {"yjjbnttbbh": ["P1", "P2", "P3", "P4"], "xzqdm": [A, A, A, A],
                           "dlbm": ["0101"] * 4,
                           "yjjbnttbmj": [geod_m2(g) for g in (P1, P2, P3, P4)]},
          [P1, P2, P3, P4])
    _core("farmland_hsf", {"xmbh": ["H1"], "xmmc": ["甲高标准农田项目"], "xzqdm": [A]}, [H1])
    _core("licenses", {"tyshxydm": ["91469021MA5T000001", "91469021MA5T000002"],
                       "ztmc": ["甲农业有限公司", "乙商店"], "xzqdm": [A, A],
                       "zzlx": ["营业执照"] * 2, "zzbh": ["L1", "L2"],
                       "yxqz": ["2030-01-01", "2025-01-01"]},
          [shapely.Point(110.0102, 19.5012), shapely.Point(110.05, 19.45)])
    _complaints_csv(tmp_path / "complaints.csv")
    drop_file(settings(), tmp_path / "complaints.csv", "complaints")
    summary = run_all(settings())
    assert [d.state for d in summary.drops] == ["loaded"], summary.drops[0].errors[:3]
    return home


def test_base_map_areas_are_the_hand_computed_ones(published: Path) -> None:
    wh = warehouse(settings())
    base = wh.read_published("farmland_base_map")
    got = base.groupby(["class", "county_code"])["area_m2"].sum().to_dict()
    expected = {k: sum(geod_m2(g) for g in v) for k, v in EXPECTED_PIECES.items()}
    assert got == pytest.approx(expected, abs=AREA_TOLERANCE_M2)
    assert (base["area_mu"] - base["area_m2"] / M2_PER_MU).abs().max() < 1e-4
    assert base.crs.to_epsg() == 4490
    assert set(base.geom_type) == {"MultiPolygon"}

    summary = wh.read_published("region_summary").set_index("county_code")
    pbf_a = expected[("pbf_and_hsf", A)] + expected[("pbf_only", A)]
    assert summary.loc[A, "pbf_area_mu"] == pytest.approx(pbf_a / M2_PER_MU, abs=1e-3)
    assert summary.loc[A, "hsf_on_pbf_area_mu"] == pytest.approx(
        expected[("pbf_and_hsf", A)] / M2_PER_MU, abs=1e-3)
    assert summary.loc[B, "pbf_area_mu"] == pytest.approx(
        expected[("pbf_only", B)] / M2_PER_MU, abs=1e-3)


def test_conflicts_are_the_hand_computed_ones(published: Path) -> None:
    conflicts = warehouse(settings()).read_published("farmland_conflicts")
    overlap = conflicts[conflicts["conflict_type"] == "pbf_overlap"]
    assert overlap[["pbf_id", "pbf_id_other", "county_code"]].values.tolist() == [
        ["P1", "P2", A]]
    assert overlap["area_m2"].iloc[0] == pytest.approx(
        geod_m2(box(110.0105, 19.5015, 110.011, 19.502)), abs=AREA_TOLERANCE_M2)
    outside = conflicts[conflicts["conflict_type"] == "hsf_outside_pbf"]
    assert set(outside["hsf_project"]) == {"H1"}
    assert outside["area_m2"].sum() == pytest.approx(
        sum(geod_m2(g) for g in EXPECTED_PIECES[("hsf_only", A)]), abs=AREA_TOLERANCE_M2)
    wrong = conflicts[conflicts["conflict_type"] == "county_mismatch"]
    assert sorted(wrong[["pbf_id", "county_code", "stated_county"]].values.tolist()) == [
        ["P4", B, A]]


def _flags(frame: pd.DataFrame, order: str) -> tuple[object, ...]:
    row = frame.set_index("order_id").loc[order]
    return tuple(None if pd.isna(row[c]) else bool(row[c]) for c in
                 ("contact_within_2h", "proposal_within_1wd", "solved_within_15wd",
                  "sla_calendar_unknown"))


def test_work_orders_on_the_map_and_against_the_calendar(published: Path) -> None:
    wh = warehouse(settings())
    orders = wh.read_published("complaints_enriched").set_index("order_id")
    # GCJ-02 coordinates 500 m off; after the inverse, half a metre inside or outside P1
    assert bool(orders.loc["G1", "on_pbf"]) and not bool(orders.loc["G2", "on_pbf"])
    raw = wgs84_to_gcj02(np.array([EDGE_LON + HALF_METRE_DEG]), np.array([EDGE_LAT]))
    assert not P1.contains(shapely.Point(raw[0][0], raw[1][0]))  # the raw point is off it
    placed = orders.geometry.loc["G1"]
    assert abs(placed.x - (EDGE_LON + HALF_METRE_DEG)) < 1e-8  # to the millimetre
    assert orders.loc["G1", "uscc"] == "91469021MA5T000001"

    table = orders.reset_index()
    assert _flags(table, "G1") == (True, True, True, False)
    assert _flags(table, "G2") == (False, True, False, False)  # 3 h to first contact
    assert _flags(table, "G3") == (True, False, True, False)
    assert _flags(table, "G4") == (True, None, None, False)

    licences = wh.read_published("licenses_on_farmland")
    assert licences[["license_no", "pbf_id", "county_code"]].values.tolist() == [["L1", "P1", A]]
    profile = wh.read_published("enterprise_profile").set_index("uscc")
    assert profile.loc["91469021MA5T000001", ["complaints", "licenses_expired"]].tolist() == [1, 0]
    assert bool(profile.loc["91469021MA5T000001", "on_pbf"])
    assert profile.loc["91469021MA5T000002", "licenses_expired"] == 1


def _field_aliases(path: Path, layer: str) -> dict[str, str]:
    """Alternative names as GDAL reads them (pyogrio's Arrow schema carries them)."""
    _, table = pyogrio.read_arrow(path, layer=layer, max_features=1)
    return {f.name: f.metadata[b"GDAL:OGR:alternative_name"].decode("utf-8")
            for f in table.schema if f.metadata and b"GDAL:OGR:alternative_name" in f.metadata}


def _check_analyst_gpkg(path: Path, layer: str) -> None:
    labels = {c: v for c, v in LABELS[layer].items() if c}
    assert _field_aliases(path, layer) == labels
    with sqlite3.connect(path) as conn:
        registered = conn.execute("SELECT table_name FROM gpkg_extensions WHERE "
                                  "extension_name = 'gpkg_schema' ORDER BY 1").fetchall()
        description = conn.execute("SELECT description FROM gpkg_contents WHERE table_name = ?",
                                   (layer,)).fetchone()
    conn.close()
    assert registered == [("gpkg_data_column_constraints",), ("gpkg_data_columns",)]
    assert description == (LABELS[layer][""],)
    info = pyogrio.read_info(path, layer=layer)
    kinds = dict(zip(info["fields"], zip(info["ogr_types"], info["ogr_subtypes"], strict=True),
                     strict=True))
    for column in BOOLEAN_COLUMNS.get(layer, ()):
        assert kinds[column] == ("OFTInteger", "OFSTBoolean"), column


def test_geopackages_carry_chinese_aliases_and_booleans(published: Path, tmp_path: Path) -> None:
    wh = warehouse(settings())
    if settings().warehouse_url.startswith("gpkg:"):
        for layer in LABELS:
            _check_analyst_gpkg(published / "publish.gpkg", layer)
    else:
        types = wh.read_table("SELECT table_name, column_name, data_type FROM "
                              "information_schema.columns WHERE table_schema = 'publish'")
        types = types.set_index(["table_name", "column_name"])["data_type"]
        for layer, columns in BOOLEAN_COLUMNS.items():
            assert {types[(layer, c)] for c in columns} == {"boolean"}, layer
    out = tmp_path / "analyst.gpkg"  # all six into one file, one exported twice
    for layer in (*LABELS, "complaints_enriched"):
        export_layer(wh, layer, out)
    listed = dict(pyogrio.list_layers(out))
    assert sorted(name for name, geometry in listed.items() if geometry) == sorted(LABELS)
    # each layer's QGIS style beside it, once (the layer exported twice replaced its own)
    styles = pyogrio.read_dataframe(out, layer="layer_styles", read_geometry=False)
    assert sorted(styles["f_table_name"]) == sorted(LABELS)
    for layer in LABELS:
        _check_analyst_gpkg(out, layer)
    # an SLA not yet due stays NULL in the file, not false and not 0.0
    orders = pyogrio.read_dataframe(out, layer="complaints_enriched")
    g4 = orders.set_index("order_id").loc["G4"]
    assert pd.isna(g4["proposal_within_1wd"]) and g4["contact_within_2h"] == True  # noqa: E712
    assert len(orders) == 4
    ogr = subprocess.run(["ogrinfo", "-ro", "-q", str(out),
                          "-sql", "SELECT order_id, proposal_within_1wd FROM complaints_enriched "
                          "WHERE proposal_within_1wd IS NULL"], capture_output=True, text=True,
                         check=True).stdout
    assert "G4" in ogr and "G1" not in ogr


def test_every_published_column_has_a_chinese_label(published: Path) -> None:
    wh = warehouse(settings())
    postgis = not settings().warehouse_url.startswith("gpkg:")
    for layer, labels in LABELS.items():
        frame = wh.read_published(layer)
        columns = set(frame.columns) - {frame.geometry.name, "fid"}
        assert columns <= set(labels), (layer, columns - set(labels))
        names = [v for c, v in labels.items() if c]
        assert len(names) == len(set(names)), layer  # an alias names one column per layer
        if postgis:  # the same labels as table and column comments
            comments = wh.read_table(
                "SELECT a.attname AS col, col_description(a.attrelid, a.attnum) AS label "
                "FROM pg_attribute a WHERE a.attrelid = CAST(%(t)s AS regclass) AND a.attnum > 0 "
                "AND NOT a.attisdropped", {"t": f"publish.{layer}"})
            got = dict(zip(comments["col"], comments["label"], strict=True))
            assert {c: got[c] for c in columns} == {c: labels[c] for c in columns}, layer
            table = wh.read_table("SELECT obj_description(CAST(%(t)s AS regclass), 'pg_class') AS d",
                                  {"t": f"publish.{layer}"})
            assert table["d"].iloc[0] == labels[""]


def test_previews_read_an_even_sample_not_the_whole_layer(published: Path) -> None:
    """The report's maps draw at most a few thousand shapes: the warehouse hands back the
    layer's size and every k-th row of it, so a province's million rows are never read to
    draw them (on both warehouses)."""
    wh = warehouse(settings())
    whole = wh.read_published("complaints_enriched")
    assert len(whole) >= 4
    total, sample = wh.read_published_sample("complaints_enriched", 2)
    assert total == len(whole)
    assert 1 <= len(sample) <= 2
    assert set(sample["order_id"]) <= set(whole["order_id"])
    assert list(sample.columns) == list(whole.columns)
    if "fid" in whole.columns:  # every k-th row by fid, found through the key on PostGIS
        k = -(-total // 2)
        assert sorted(sample["fid"]) == sorted(f for f in whole["fid"] if f % k == 0)
    total, small = wh.read_published_sample("region_summary", 1000)  # small: read whole
    assert total == len(small) == 2
