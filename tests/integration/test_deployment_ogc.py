"""The OGC API of docker-compose.yml without Docker: after a real pipeline run and a second
publish that swaps every layer, the views pygeoapi reads exist for exactly the published
layers, follow the swap and are readable by the read-only login; then the pygeoapi version
the compose file pins, started natively with deploy/pygeoapi/, serves them in EPSG:4490,
EPSG:4326 and CRS84 with the axis order each CRS defines."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml
from shapely.geometry import shape
from shapely.ops import transform
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from pipelines.config import settings
from pipelines.contracts import all_layers
from pipelines.integrate import LAYERS
from pipelines.publish.layers import publish_layers
from pipelines.publish.styles import FID_LABEL
from pipelines.runner import warehouse
from tests.conftest import ROOT, _free_port, wait_for
from tests.integration.sample_run import sample_run_on_postgis

DEPLOY = ROOT / "deploy" / "pygeoapi"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
PYGEOAPI_VERSION = COMPOSE["services"]["pygeoapi"]["image"].rsplit(":", 1)[1]
# What the image brings besides pygeoapi for the PostgreSQL provider and its server.
TOOL_PACKAGES = [f"pygeoapi=={PYGEOAPI_VERSION}", "psycopg2-binary==2.9.13",
                 "geoalchemy2==0.20.0", "gunicorn==23.0.0", "gevent==26.9.0",
                 "flask-cors==6.0.5"]
EPSG_4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
OGC_LOGIN = "yitu_ogc"
CJK = re.compile(r"[\u4e00-\u9fff]")


def _uv() -> list[str]:
    # `uv run` names itself in UV; .ci/install may have put uv only in the base interpreter
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else [getattr(sys, "_base_executable", "python3"), "-m", "uv"]


def _tool(*cmd: str) -> list[str]:
    """A command inside an isolated pygeoapi environment: not the project's (Flask vs Airflow)."""
    withs = [arg for p in TOOL_PACKAGES for arg in ("--with", p)]
    return [*_uv(), "run", "--no-project", "--isolated", "--python", "3.11", *withs, *cmd]


@pytest.fixture(scope="module")
def published(postgis_server: str, sample_dir: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The sample drops run end to end on PostGIS, then every layer published again, cut in
    half, so the views have been through a swap; the OGC login made by the compose init script."""
    with sample_run_on_postgis(postgis_server, sample_dir,
                               tmp_path_factory.mktemp("home")) as url:
        wh = warehouse(settings())
        first = {name: wh.read_published(name) for name in LAYERS}
        halves = {name: gdf.drop(columns="fid").iloc[: (len(gdf) + 1) // 2]
                  for name, gdf in first.items()}
        publish_layers(wh, dict(halves))  # (it empties the dict it is given)

        u = make_url(url)
        subprocess.run(["bash", str(ROOT / ".ci" / "initdb" / "20-ogc-reader.sh")], check=True,
                       capture_output=True,
                       env={**os.environ, "PGHOST": u.host or "", "PGPORT": str(u.port),
                            "POSTGRES_USER": u.username or "", "POSTGRES_DB": u.database or "",
                            "YITU_OGC_DB_PASSWORD": "ogc-test-password"})
        yield {"url": url, "login_url": u.set(username=OGC_LOGIN).render_as_string(False),
               "first": {n: len(g) for n, g in first.items()},
               "counts": {n: len(g) for n, g in halves.items()},
               "warehouse": wh, "halves": halves}


def test_views_follow_the_swap_and_flip_axes_for_the_read_only_login(
        published: dict[str, Any]) -> None:
    assert all(published["first"][n] > published["counts"][n] for n in LAYERS
               if published["first"][n] > 1)  # the second publish really changed the layers
    owner = create_engine(published["url"])
    with owner.connect() as conn:
        for name in LAYERS:
            row = conn.execute(text(
                f"SELECT count(*) AS n, count(v.geom) AS located,"
                f" count(*) FILTER (WHERE ST_SRID(v.geom) = 4490) AS in_4490,"
                f" count(*) FILTER (WHERE ST_Equals(ST_FlipCoordinates(v.geom), p.geom))"
                f"   AS same_place,"
                f" count(*) FILTER (WHERE ST_SRID(ST_Transform(p.geom, 4326)) = 4326)"
                f"   AS to_4326"
                f" FROM ogc.{name} v JOIN publish.{name} p USING (fid)")).one()
            assert row.n == published["counts"][name], name
            assert row.located > 0, name
            assert row.in_4490 == row.same_place == row.to_4326 == row.located, name
    owner.dispose()
    engine = create_engine(published["login_url"])
    with engine.connect() as conn:
        views = set(conn.execute(text(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'ogc'"))
            .scalars())
        assert views == set(LAYERS)
        for name in LAYERS:
            assert conn.execute(text(f"SELECT count(*) FROM ogc.{name}")).scalar_one() == \
                published["counts"][name]
            # latitude first: Hainan's latitudes (18-20) come before its longitudes (108-111)
            y_min, x_min = conn.execute(text(
                f"SELECT min(ST_YMin(geom)), min(ST_XMin(geom)) FROM ogc.{name}")).one()
            assert 108 < y_min < 112 and 17 < x_min < 21, name
        # its own role: the ogc views, read-only, and nothing else (not even publish)
        for sql in ("SELECT count(*) FROM core.admin_divisions",
                    f"SELECT count(*) FROM publish.{LAYERS[0]}",
                    f"DELETE FROM publish.{LAYERS[0]}",
                    "CREATE VIEW ogc.mine AS SELECT 1 AS one"):
            with pytest.raises(ProgrammingError, match="permission denied"), \
                    conn.begin_nested():
                conn.execute(text(sql))
        assert not conn.execute(text(
            "SELECT pg_has_role('yitu_analyst', 'MEMBER')")).scalar_one()
    engine.dispose()


def test_the_analyst_and_the_monitor_cannot_read_the_ogc_views(
        published: dict[str, Any]) -> None:
    """The views are latitude first: an analyst's QGIS would draw them swapped."""
    engine = create_engine(published["url"])
    for role in ("yitu_analyst", "yitu_monitor"):
        with engine.connect() as conn:
            conn.execute(text(f"SET ROLE {role}"))
            assert not conn.execute(text(
                "SELECT has_schema_privilege('ogc', 'USAGE')")).scalar_one()
            assert conn.execute(text(f"SELECT count(*) FROM publish.{LAYERS[0]}")).scalar_one() \
                == published["counts"][LAYERS[0]]
            with pytest.raises(ProgrammingError, match="permission denied"):
                conn.execute(text(f"SELECT count(*) FROM ogc.{LAYERS[0]}"))
    engine.dispose()


@contextmanager
def running_pygeoapi(database_url: str, workdir: Path) -> Iterator[str]:
    """deploy/pygeoapi/start.sh, natively, as the compose service runs it; its base URL."""
    u = make_url(database_url)
    port = _free_port()
    env = {**os.environ, "PYGEOAPI_CONFIG": str(DEPLOY / "pygeoapi-config.yml"),
           "PYGEOAPI_OPENAPI": str(workdir / "openapi.yml"),
           "PYGEOAPI_SERVER_URL": f"http://127.0.0.1:{port}",
           "CONTAINER_HOST": "127.0.0.1", "CONTAINER_PORT": str(port), "WSGI_WORKERS": "1",
           "YITU_OGC_DB_HOST": u.host or "", "YITU_OGC_DB_PORT": str(u.port),
           "YITU_OGC_DB_NAME": u.database or "", "YITU_OGC_DB_PASSWORD": "ogc-test-password"}
    log = workdir / "pygeoapi.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(_tool("bash", str(DEPLOY / "start.sh")), env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        # the compose health check's request
        wait_for(lambda: proc.poll() is not None or _status(f"{base}/conformance") == 200,
                 timeout=120)
        assert proc.poll() is None and _status(f"{base}/conformance") == 200, \
            log.read_text("utf-8", "replace")[-3000:]
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def pygeoapi(published: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[str]:
    # pygeoapi's own JSON schema check of the config
    checked = subprocess.run(_tool("pygeoapi", "config", "validate", "-c",
                                   str(DEPLOY / "pygeoapi-config.yml")),
                             env={**os.environ, "YITU_OGC_DB_PASSWORD": "unused"},
                             capture_output=True, text=True, timeout=600)
    assert checked.returncode == 0, checked.stderr[-3000:]
    with running_pygeoapi(published["url"], tmp_path_factory.mktemp("ogc")) as base:
        yield base


def test_pygeoapi_starts_before_the_first_publish(postgis_url: str, tmp_path: Path) -> None:
    """A new deployment: the views come with the first publish, the service must be up before."""
    with running_pygeoapi(postgis_url, tmp_path) as base:
        body, _ = _get(f"{base}/collections?f=json")
        assert [c["id"] for c in body["collections"]] == list(LAYERS)
        assert _status(f"{base}/collections/{LAYERS[0]}/items?f=json") >= 400  # no view yet


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)
    except OSError:  # not listening (yet)
        return 0


def _get(url: str) -> tuple[dict[str, Any], dict[str, str]]:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read()), dict(r.headers)


def test_pygeoapi_lists_exactly_the_published_layers_in_cgcs2000(pygeoapi: str) -> None:
    body, _ = _get(f"{pygeoapi}/collections?f=json")
    assert [c["id"] for c in body["collections"]] == list(LAYERS)
    for c in body["collections"]:
        assert c["storageCrs"] == EPSG_4490
        assert {EPSG_4490, EPSG_4326} <= set(c["crs"])


def _postgis_4326(published: dict[str, Any], name: str, fids: list[int]
                  ) -> dict[int, shapely.Geometry]:
    engine = create_engine(published["url"])
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT fid, ST_AsBinary(ST_Transform(geom, 4326)) AS g "
                                 f"FROM publish.{name} WHERE fid = ANY(:f)"), {"f": fids}).all()
    engine.dispose()
    return {r.fid: shapely.from_wkb(bytes(r.g)) for r in rows if r.g is not None}


@pytest.mark.parametrize("name", LAYERS)
def test_pygeoapi_items_match_postgis_in_each_crs(pygeoapi: str, published: dict[str, Any],
                                                 name: str) -> None:
    items = f"{pygeoapi}/collections/{name}/items?f=json&limit=20"
    lat_first, headers = _get(f"{items}&crs={EPSG_4326}")
    assert headers["Content-Crs"] == f"<{EPSG_4326}>"
    assert lat_first["numberMatched"] == published["counts"][name]
    lon_first, _ = _get(items)  # no crs: CRS84
    cgcs2000, _ = _get(f"{items}&crs={EPSG_4490}")
    features = [f for f in lat_first["features"] if f["geometry"]]
    assert features, name
    expected = _postgis_4326(published, name, [f["id"] for f in features])
    others = {f["id"]: f for f in lon_first["features"]}
    same_crs = {f["id"]: f for f in cgcs2000["features"]}
    for f in features:
        want = expected[f["id"]]
        # EPSG:4326 and EPSG:4490 are latitude first, CRS84 longitude first
        assert shapely.equals_exact(transform(lambda x, y: (y, x),
                                                          shape(f["geometry"])), want, 1e-7)
        assert shapely.equals_exact(shape(others[f["id"]]["geometry"]), want, 1e-7)
        assert shapely.equals_exact(transform(
            lambda x, y: (y, x), shape(same_crs[f["id"]]["geometry"])), want, 1e-7)


def test_pygeoapi_bbox_filter_finds_a_feature_where_it_is(pygeoapi: str,
                                                          published: dict[str, Any]) -> None:
    name = "complaints_enriched"
    engine = create_engine(published["url"])
    with engine.connect() as conn:
        fid, x, y = conn.execute(text(f"SELECT fid, ST_X(geom), ST_Y(geom) FROM publish.{name} "
                                      "WHERE geom IS NOT NULL ORDER BY fid LIMIT 1")).one()
        box = tuple(round(v, 6) for v in (x - 0.01, y - 0.01, x + 0.01, y + 0.01))
        inside = conn.execute(text(f"SELECT count(*) FROM publish.{name} WHERE geom && "
                                   "ST_MakeEnvelope(:a, :b, :c, :d, 4490)"),
                              dict(zip("abcd", box, strict=True))).scalar_one()
    engine.dispose()
    body, _ = _get(f"{pygeoapi}/collections/{name}/items?f=json&limit=1000"
                   f"&bbox={','.join(map(str, box))}")
    assert body["numberMatched"] == inside
    assert fid in {f["id"] for f in body["features"]}


def test_pygeoapi_serves_a_publish_made_while_it_runs(pygeoapi: str,
                                                     published: dict[str, Any]) -> None:
    """Its connections and table models outlive a swap of the views under them."""
    wh, halves = published["warehouse"], published["halves"]
    name = "complaints_enriched"
    items = f"{pygeoapi}/collections/{name}/items?f=json&limit=1"
    assert _get(items)[0]["numberMatched"] == len(halves[name])
    quarters = {n: g.iloc[: (len(g) + 1) // 2] for n, g in halves.items()}
    try:
        publish_layers(wh, dict(quarters))
        assert len(quarters[name]) < len(halves[name])
        assert _get(items)[0]["numberMatched"] == len(quarters[name])
    finally:
        publish_layers(wh, dict(halves))  # as the other tests expect it
    assert _get(items)[0]["numberMatched"] == len(halves[name])


def test_owslib_reads_chinese_titles_of_collections_and_properties(pygeoapi: str) -> None:
    """What a client shows an analyst: every collection and every property titled as its
    layer contract says, in Chinese (the server's first language)."""
    from owslib.ogcapi.features import Features

    api = Features(pygeoapi)
    collections = {c["id"]: c for c in api.collections()["collections"]}
    for layer in all_layers():
        shown = collections[layer.layer]
        assert shown["title"] == layer.title
        assert CJK.search(shown["description"]), layer.layer
        expected = {"fid": FID_LABEL, **{c.name: c.label for c in layer.columns}}
        queryables = api.collection_queryables(layer.layer)["properties"]
        titles = {k: v["title"] for k, v in queryables.items() if k in expected}
        assert titles == expected, layer.layer
        schema = api.collection_schema(layer.layer)["properties"]
        assert {k: schema[k].get("title") for k in expected} == expected, layer.layer


def test_pygeoapi_answers_cross_origin_requests(pygeoapi: str) -> None:
    """`cors: true` with flask-cors present: a web map on another intranet host may read it."""
    request = urllib.request.Request(f"{pygeoapi}/collections?f=json",
                                     headers={"Origin": "http://gis.example.internal"})
    with urllib.request.urlopen(request, timeout=30) as r:
        assert r.headers["Access-Control-Allow-Origin"] in ("*", "http://gis.example.internal")


def test_the_html_map_works_without_the_internet(pygeoapi: str, published: dict[str, Any],
                                                 tmp_path: Path) -> None:
    """Chromium on a network with no way out: the items page draws the county outlines and
    the features from this server alone (Leaflet vendored, no tiles configured)."""
    from playwright.sync_api import Route, sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Chromium is not installed; `bash .ci/install` installs Debian's chromium"
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(pygeoapi):
            route.continue_()
        else:  # the intranet: nothing beyond the server answers
            outside.append(route.request.url)
            route.abort()

    name = "complaints_enriched"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.route("**/*", local_only)
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(f"{pygeoapi}/collections/{name}/items?f=html&limit=50")
            counties = page.locator("#items-map .leaflet-overlay-pane path")
            page.wait_for_function(
                "n => document.querySelectorAll('#items-map .leaflet-overlay-pane path')"
                ".length >= n", arg=published["counts"]["region_summary"], timeout=30000)
            features = page.locator("#items-map .leaflet-marker-icon")
            assert features.count() > 0
            assert counties.count() >= published["counts"]["region_summary"]
            # Bootstrap applied: the page's header is laid out by its d-flex class
            assert page.locator("header.d-flex").first.evaluate(
                "e => getComputedStyle(e).display") == "flex"
            page.screenshot(path=str(tmp_path / "ogc-items-map.png"))
            assert failed == [], failed
        finally:
            browser.close()
    # nothing at all from the internet: Leaflet, the base map and pygeoapi's Bootstrap
    # style sheet all come from this server
    assert outside == []
