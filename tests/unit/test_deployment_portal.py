"""The portal's service in docker-compose.yml, read (no Docker engine here): the pipeline's
image, the landing zone the workers watch, a command the CLI takes, its secrets required."""

from __future__ import annotations

from tests.unit.test_deployment import COMPOSE

PORTAL = COMPOSE["services"]["portal"]
WORKER = COMPOSE["services"]["airflow-worker"]


def test_the_portal_runs_the_pipelines_image_on_its_landing_zone() -> None:
    assert PORTAL["image"] == WORKER["image"] and PORTAL["build"] == WORKER["build"]
    home = WORKER["environment"]["YITU_HOME"]
    assert PORTAL["environment"]["YITU_HOME"] == home
    assert PORTAL["environment"]["YITU_WAREHOUSE_URL"] == WORKER["environment"]["YITU_WAREHOUSE_URL"]
    landing = f"${{YITU_LANDING_DIR:-./var/landing}}:{home}/landing"
    assert landing in PORTAL["volumes"] and landing in WORKER["volumes"]
    assert f"./var:{home}" in PORTAL["volumes"]  # quarantine/ holds the answers it serves


def test_the_portal_command_is_yitus_own() -> None:
    from pipelines.cli import build_parser

    program, *args = PORTAL["command"]
    assert program == "yitu"
    parsed = build_parser().parse_args(args)
    assert parsed.command == "portal" and parsed.port == 8765
    assert PORTAL["ports"] == [f"{parsed.port}:{parsed.port}"]
    assert str(parsed.port) in PORTAL["healthcheck"]["test"][-1]


def test_the_cookie_key_is_required_and_cookies_are_secure_by_default() -> None:
    env = PORTAL["environment"]
    assert env["YITU_PORTAL_SECRET"].startswith("${YITU_PORTAL_SECRET:?")
    assert env["YITU_PORTAL_SECURE_COOKIES"].endswith(":-1}")
