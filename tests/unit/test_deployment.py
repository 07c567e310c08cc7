"""docker-compose.yml cannot start here (no Docker engine): check what it says by reading it,
against the code and the configuration the tests run natively."""

from __future__ import annotations

import re
from importlib.util import find_spec
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as docker compose reads them (the file keeps to the plain subset)."""
    pairs = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip() and value == value.strip(), line
            assert not value.startswith(("'", '"')), line  # quotes mean different things natively
            pairs[key] = value
    return pairs


AIRFLOW_ENV = _env_file(ROOT / "deploy" / "airflow.env")
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler",
                    "airflow-dag-processor", "airflow-triggerer", "airflow-worker"}


def test_services_are_postgis_redis_and_airflow() -> None:
    assert set(COMPOSE["services"]) == {"postgis", "redis", "pygeoapi",
                                        "portal"} | AIRFLOW_SERVICES
    assert COMPOSE["services"]["postgis"]["image"].startswith("postgis/postgis:")


def test_every_long_running_service_has_a_health_check() -> None:
    for name, svc in COMPOSE["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in svc, name
            assert svc["restart"] == "unless-stopped", name


def test_services_start_in_order() -> None:
    services = COMPOSE["services"]
    for name, svc in services.items():
        for needed, how in svc.get("depends_on", {}).items():
            assert needed in services, (name, needed)
            # a health-checked service is waited for until healthy, the one-shot until done
            expected = ("service_completed_successfully" if needed == "airflow-init"
                        else "service_healthy")
            assert how == {"condition": expected}, (name, needed)
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        assert "airflow-init" in services[name]["depends_on"], name


def test_airflow_services_share_one_image_and_environment() -> None:
    services = [COMPOSE["services"][n] for n in AIRFLOW_SERVICES]
    envs = [s["environment"] for s in services]
    assert all(e == envs[0] for e in envs)
    env = envs[0]
    assert all(s["env_file"] == ["deploy/airflow.env"] for s in services)
    assert AIRFLOW_ENV["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["YITU_WAREHOUSE_URL"].startswith("postgresql+psycopg://")
    assert "YITU_PII_KEY" in env  # a PostGIS warehouse never runs without the key
    # the DAGs folder the services mount is this repository's dags/
    assert any(v.startswith("./dags:") and v.split(":")[1] == env["AIRFLOW__CORE__DAGS_FOLDER"]
               for v in services[0]["volumes"])


def test_metadata_database_uses_the_driver_the_native_scheduler_test_runs() -> None:
    env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    sync = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    # Without an async URL Airflow 3 derives postgresql+asyncpg, which is not installed.
    assert sync.startswith("postgresql+psycopg://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == sync


def test_image_is_built_from_the_lock_file() -> None:
    dockerfile = (ROOT / ".ci" / "Dockerfile").read_text("utf-8")
    assert "uv export --frozen" in dockerfile and "--extra deploy" in dockerfile
    airflow = re.search(r"apache-airflow==([\d.]+)", (ROOT / "pyproject.toml").read_text())
    assert airflow and f"apache/airflow:{airflow.group(1)}-python3.11" in dockerfile
    for folder in ("pipelines", "schemas", "expectations", "sql"):
        assert f"COPY --chown=airflow {folder}" in dockerfile


def test_commands_exist_in_the_locked_airflow() -> None:
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for name in AIRFLOW_SERVICES - {"airflow-worker"}:
        cmd = COMPOSE["services"][name]["command"]
        args = cmd[2].split() if cmd[0] == "bash" else cmd
        assert args[0] == "airflow"
        parser.parse_args(args[1:])  # raises SystemExit on an unknown command


def _is_airflow_option(key: str) -> bool:
    from airflow.configuration import conf

    section, _, option = key.removeprefix("AIRFLOW__").lower().partition("__")
    if section == "celery" and find_spec("airflow.providers.celery") is None:
        return True  # described by the Celery provider: the image has it (extra deploy), dev not
    described = conf.configuration_description.get(section, {}).get("options", {})
    return option in described or conf.has_option(section, option)


def test_shared_airflow_env_holds_real_options_and_nothing_container_specific() -> None:
    for key, value in AIRFLOW_ENV.items():
        assert _is_airflow_option(key), key  # a typo would be silently ignored
        # hostnames, paths and secrets belong to docker-compose.yml or the shell
        assert "://" not in value and not value.startswith("/"), key
        assert not any(w in key.lower() for w in ("password", "secret", "fernet", "conn", "url")), key
    compose_env = COMPOSE["services"]["airflow-scheduler"]["environment"]
    assert not set(AIRFLOW_ENV) & set(compose_env)  # one place for each setting
    for key in compose_env:
        assert not key.startswith("AIRFLOW__") or _is_airflow_option(key), key


PYGEOAPI = COMPOSE["services"]["pygeoapi"]
OGC_CONFIG = yaml.safe_load((ROOT / "deploy" / "pygeoapi" / "pygeoapi-config.yml").read_text())


def test_pygeoapi_is_pinned_and_runs_this_repositorys_config() -> None:
    image, tag = PYGEOAPI["image"].rsplit(":", 1)
    assert image == "geopython/pygeoapi" and re.fullmatch(r"\d+\.\d+\.\d+", tag)
    mount = next(v for v in PYGEOAPI["volumes"] if v.startswith("./deploy/pygeoapi:"))
    inside = mount.split(":")[1]
    assert PYGEOAPI["environment"]["PYGEOAPI_CONFIG"] == f"{inside}/pygeoapi-config.yml"
    assert PYGEOAPI["entrypoint"] == ["bash", f"{inside}/start.sh"]
    # the read-only login's password reaches both the database init script and pygeoapi
    assert "YITU_OGC_DB_PASSWORD" in COMPOSE["services"]["postgis"]["environment"]
    assert "YITU_OGC_DB_PASSWORD" in (ROOT / ".ci" / "initdb" / "20-ogc-reader.sh").read_text()
    assert "${YITU_OGC_DB_PASSWORD}" in (ROOT / "deploy" / "pygeoapi" / "pygeoapi-config.yml"
                                          ).read_text()


def test_pygeoapi_publishes_exactly_the_layers_over_the_ogc_views_in_cgcs2000() -> None:
    from pipelines.integrate import LAYERS
    from pipelines.publish.layers import layer_labels

    LABELS = layer_labels()
    from pipelines.warehouse.postgis import SCHEMAS

    region = yaml.safe_load((ROOT / "schemas" / "region.yml").read_text("utf-8"))["extent"]
    resources = OGC_CONFIG["resources"]
    assert list(resources) == list(LAYERS)
    assert "ogc" in SCHEMAS
    for name, res in resources.items():
        assert res["title"]["zh-CN"] == LABELS[name][""]  # the server's first language
        bbox = res["extents"]["spatial"]["bbox"]
        assert bbox == [region["min_lon"], region["min_lat"], region["max_lon"], region["max_lat"]]
        (provider,) = res["providers"]
        assert provider["name"] == "PostgreSQL" and provider["table"] == name
        assert provider["data"]["search_path"] == ["ogc"]
        assert provider["id_field"] == "fid" and provider["geom_field"] == "geom"
        assert provider["data"]["user"].endswith("yitu_ogc}")
        assert provider["storage_crs"] == "http://www.opengis.net/def/crs/EPSG/0/4490"
        assert provider["crs"] == ["http://www.opengis.net/def/crs/EPSG/0/4490",
                                   "http://www.opengis.net/def/crs/EPSG/0/4326",
                                   "http://www.opengis.net/def/crs/OGC/1.3/CRS84"]


def test_landing_zone_is_mounted_where_yitu_looks_for_drops() -> None:
    env = COMPOSE["services"]["airflow-worker"]["environment"]
    for name in AIRFLOW_SERVICES:
        volumes = COMPOSE["services"][name]["volumes"]
        assert f"${{YITU_LANDING_DIR:-./var/landing}}:{env['YITU_HOME']}/landing" in volumes


def test_airflow_health_checks_ask_what_airflow_serves() -> None:
    import shlex

    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        kind, *test = COMPOSE["services"][name]["healthcheck"]["test"]
        args = shlex.split(test[0]) if kind == "CMD-SHELL" else test
        if args[0] == "airflow":
            parser.parse_args([a.replace("$${HOSTNAME}", "host") for a in args[1:]])
    scheduler = COMPOSE["services"]["airflow-scheduler"]["healthcheck"]["test"]
    assert scheduler[-1] == "http://localhost:8974/health"  # Airflow's default port for it
    assert AIRFLOW_ENV["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"


def test_compose_file_follows_the_compose_specification() -> None:
    """deploy/schema/compose-spec.json: the Compose Specification's schema (compose-spec/
    compose-spec, schema/compose-spec.json at 170098b, Apache-2.0), what `docker compose config`
    checks first; a misspelt key or condition fails here instead of on the server."""
    import json

    from jsonschema import Draft7Validator

    schema = json.loads((ROOT / "deploy" / "schema" / "compose-spec.json").read_text("utf-8"))
    errors = [f"{'/'.join(map(str, e.path))}: {e.message[:200]}"
              for e in Draft7Validator(schema).iter_errors(COMPOSE)]
    assert errors == []


def test_readme_triggers_dags_and_params_that_exist(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The data engineers' commands in README.md name DAGs and params the DAG files define."""
    import json

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from airflow.dag_processing.dagbag import DagBag

    from pipelines.contracts import DATASETS

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    readme = (ROOT / "README.md").read_text("utf-8")
    triggers = re.findall(r"airflow dags trigger (\S+?)(?: --conf '(\{.*?\})')?`", readme)
    assert len(triggers) >= 3
    for dag_id, conf in triggers:
        names = [dag_id.replace("<dataset>", d) for d in DATASETS] if "<dataset>" in dag_id \
            else [dag_id]
        for name in names:
            assert name in bag.dag_ids, name
            assert set(json.loads(conf or "{}")) <= set(bag.dags[name].params), (name, conf)
