"""What an analyst's QGIS shows: Debian's QGIS 3.22 on GDAL 3.6 (python3-qgis, headless) opens
every published layer from publish.gpkg, from an exported .gpkg and from PostGIS logged in as
an analyst, each styled by its contract (categorised classes, Chinese aliases and legend)
without a .qml beside it; and GDAL, as the analyst, lists the published layers and nothing
else. One pipeline run on PostGIS, its layers published to a GeoPackage the same way."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pipelines.config import settings
from pipelines.contracts import LayerContract, all_layers
from pipelines.publish.export import export_layer
from pipelines.publish.layers import publish_layers
from pipelines.runner import warehouse
from pipelines.warehouse.gpkg import GeoPackageWarehouse
from tests.conftest import ROOT
from tests.integration.sample_run import sample_run_on_postgis

SCRIPT = Path(__file__).with_name("qgis_open_layers.py")
QGIS_PYTHON = "/usr/bin/python3"  # Debian's, where python3-qgis lives
ANALYST = "analyst_qgis"
CJK = re.compile(r"[\u4e00-\u9fff]")
EXPORTED = "farmland_conflicts"


def _qgis(png: Path, specs: list[str], conninfo: str) -> dict[str, Any]:
    proc = subprocess.run([QGIS_PYTHON, str(SCRIPT), str(png), *specs], capture_output=True,
                          text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                               "XDG_RUNTIME_DIR": str(png.parent),
                               "QGIS_LIST_CONNINFO": conninfo})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def opened(postgis_server: str, sample_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sample run on PostGIS; its layers published to a GeoPackage too and one exported;
    an analyst login; then QGIS opens all of them once."""
    out = tmp_path_factory.mktemp("qgis")
    with sample_run_on_postgis(postgis_server, sample_dir,
                               tmp_path_factory.mktemp("home")) as url:
        wh = warehouse(settings())
        layers = {c.layer: wh.read_published(c.layer).drop(columns="fid") for c in all_layers()}
        gpkg = GeoPackageWarehouse(f"gpkg://{out / 'warehouse.gpkg'}")
        publish_layers(gpkg, dict(layers))  # (it empties the dict it is given)
        exported = out / "exported.gpkg"
        export_layer(wh, EXPORTED, exported)

        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE ROLE {ANALYST} LOGIN IN ROLE yitu_analyst"))
        admin.dispose()
        u = make_url(url)
        conninfo = f"dbname='{u.database}' host={u.host} port={u.port} user='{ANALYST}'"
        specs = [f"gpkg/{c.layer}=ogr:{gpkg.publish_path}|layername={c.layer}"
                 for c in all_layers()]
        specs += [f"pg/{c.layer}=postgres:{conninfo} key='fid' "
                  f"table=\"publish\".\"{c.layer}\" (geom)" for c in all_layers()]
        specs.append(f"export/{EXPORTED}=ogr:{exported}|layername={EXPORTED}")
        png = out / "publish-map.png"
        result = _qgis(png, specs, conninfo)
        yield {**result, "png": png, "pg": f"PG:{conninfo}",
               "counts": {name: len(gdf) for name, gdf in layers.items()}}


def _check(layer: LayerContract, shown: dict[str, Any], features: int) -> None:
    assert shown["valid"], layer.layer
    assert shown["crs"] == "EPSG:4490", layer.layer
    assert shown["features"] == features, layer.layer
    aliases = shown["aliases"]
    assert set(layer.column_names) <= set(aliases), layer.layer
    blank = {f: a for f, a in aliases.items() if not CJK.search(a)}
    assert not blank, f"{layer.layer}: fields without a Chinese alias {blank}"
    for column in layer.columns:
        assert aliases[column.name] == column.label
    if layer.class_column:
        assert shown["renderer"] == "categorizedSymbol", layer.layer
        assert shown["categories"] == [{"value": c.value, "label": c.label, "colour": c.colour}
                                       for c in layer.classes]
        assert shown["widgets"][layer.class_column] == "ValueMap"  # codes shown by name
    else:
        assert shown["renderer"] == "singleSymbol", layer.layer
    assert shown["label_field"] == layer.label_column, layer.layer


@pytest.mark.parametrize("group", ["gpkg", "pg"])
def test_qgis_opens_every_layer_styled_and_aliased(opened: dict[str, Any], group: str) -> None:
    for layer in all_layers():
        _check(layer, opened["layers"][f"{group}/{layer.layer}"], opened["counts"][layer.layer])


def test_an_exported_geopackage_carries_its_style(opened: dict[str, Any]) -> None:
    layer = next(c for c in all_layers() if c.layer == EXPORTED)
    _check(layer, opened["layers"][f"export/{EXPORTED}"], opened["counts"][EXPORTED])


def test_qgis_renders_the_styled_map(opened: dict[str, Any]) -> None:
    png: Path = opened["png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the classes' colours, outlines and labels: far from a blank or one-colour picture
    assert opened["colours"] > 20, f"{png} is (nearly) blank"
    print(f"\nQGIS 3.22's map of the published layers: {png}")


def test_the_analyst_lists_only_published_layers(opened: dict[str, Any]) -> None:
    """GDAL listing from PostGIS's geometry_columns, which shows a role only what it may read,
    and QGIS's browser: not ogc's latitude-first views (the OGC reader's), not core, dq or
    audit. (GDAL's faster default reads pg_class, which PostgreSQL shows every role whole;
    README says so.)"""
    proc = subprocess.run(["ogrinfo", "-ro", "-q", "--config", "PG_USE_POSTGIS2_OPTIM", "NO",
                           opened["pg"]], capture_output=True, text=True, timeout=120,
                          check=True)
    listed = re.findall(r"^\d+: (\S+)", proc.stdout, flags=re.M)
    assert sorted(listed) == sorted(f"publish.{c.layer}" for c in all_layers())
    # QGIS's own browser, with its default settings: the same
    assert opened["listed"] == sorted(f"publish.{c.layer}" for c in all_layers())
