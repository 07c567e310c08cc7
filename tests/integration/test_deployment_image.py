"""The yitu part of .ci/Dockerfile without Docker: the folders it copies into its WORKDIR,
installed the way its last RUN line installs yitu, are all yitu needs to find its contracts,
DDL and suites at run time (a plain wheel would carry the package without them)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import ROOT

DOCKERFILE = (ROOT / ".ci" / "Dockerfile").read_text("utf-8")
PROBE = """
import json, pipelines
from pipelines.contracts import DATASETS, all_contracts
from pipelines.validate.run import EXPECTATIONS_DIR
from pipelines.warehouse.postgis import SQL_DIR
print(json.dumps({
    "package": pipelines.__file__,
    "contracts": [c.dataset for c in all_contracts()],
    "ddl": sorted(p.name for p in SQL_DIR.glob("*.sql")),
    "suites": sorted(p.name for p in EXPECTATIONS_DIR.glob("*.json")),
}))
"""


def _copied_sources() -> list[str]:
    sources = []
    for line in DOCKERFILE.splitlines():
        if line.startswith("COPY "):
            args = [a for a in line.split()[1:] if not a.startswith("--")]
            sources += args[:-1]
    return sources


def _uv() -> list[str]:
    # `uv run` names itself in UV; .ci/install may have put uv only in the base interpreter
    found = os.environ.get("UV") or shutil.which("uv")
    return [found] if found else [getattr(sys, "_base_executable", "python3"), "-m", "uv"]


def test_image_layout_finds_contracts_ddl_and_suites(tmp_path: Path) -> None:
    workdir = tmp_path / "opt-yitu"
    workdir.mkdir()
    for src in _copied_sources():
        if (ROOT / src).is_dir():
            shutil.copytree(ROOT / src, workdir / src,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / src, workdir / src)
    install = re.search(r"pip install --no-cache-dir --no-deps (-e )?\.\s*$", DOCKERFILE, re.M)
    assert install, "the Dockerfile's install line changed: update this test"

    venv = tmp_path / "venv"
    subprocess.run([*_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)],
                   check=True, capture_output=True)
    editable = ["-e"] if install.group(1) else []
    subprocess.run([*_uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                    "--no-deps", *editable, str(workdir)], check=True, capture_output=True)

    # the dependencies from the project's environment, yitu only from the image's install
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    # not from this checkout: `python -c` puts the working directory first on sys.path
    out = subprocess.run([str(venv / "bin" / "python"), "-c", PROBE], env=env, cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    from pipelines.contracts import DATASETS

    assert Path(found["package"]).is_relative_to(workdir)
    assert found["contracts"] == list(DATASETS)
    assert {f"core_{d}.sql" for d in DATASETS} | {"roles.sql"} <= set(found["ddl"])
    assert found["suites"] == sorted(f"{d}.json" for d in DATASETS)
    cli = subprocess.run([str(venv / "bin" / "yitu"), "--help"], env=env, cwd=tmp_path,
                         capture_output=True, text=True)
    assert cli.returncode == 0 and "drop" in cli.stdout, cli.stderr[-2000:]
