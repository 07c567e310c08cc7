"""The landing zone takes regular files only, under any name a department gives them; a drop
that crashes is answered `failed` and holds back nothing; a failed drop can be retried."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import settings
from pipelines.landing.drops import NAME_BYTES, drop_file, safe_name

ROOT = Path(__file__).resolve().parents[2]


def _run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # in a child with a time limit: a FIFO opened for reading would block forever
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=ROOT, text=True,
                          capture_output=True, timeout=300, env=os.environ.copy())


def _status(home: Path) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(_run(home, "status", "--json").stdout)


def test_links_and_fifos_are_refused_never_followed(yitu_env: Path, tmp_path: Path) -> None:
    secret = tmp_path / "pii.key"
    secret.write_text("the personal-data key", encoding="utf-8")
    landing = yitu_env / "landing" / "licenses"
    landing.mkdir(parents=True)
    (landing / "key.csv").symlink_to(secret)
    (landing / "environ.csv").symlink_to("/proc/self/environ")
    os.mkfifo(landing / "pipe.csv")
    proc = _run(yitu_env, "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    drops = _status(yitu_env)
    assert sorted(d["file"] for d in drops) == ["environ.csv", "key.csv", "pipe.csv"]
    assert {d["state"] for d in drops} == {"rejected"}
    assert {d["errors"][0]["rule"] for d in drops} == {"not_a_file"}
    assert list(landing.iterdir()) == []  # the links and the FIFO are gone ...
    assert secret.read_text(encoding="utf-8") == "the personal-data key"  # ... not their target
    raw = yitu_env / "raw"
    archived = [p for p in raw.rglob("*") if p.is_file()] if raw.exists() else []
    assert archived == []
    assert all(b"personal-data key" not in p.read_bytes()
               for p in yitu_env.rglob("*") if p.is_file() and not p.is_symlink()
               and p.suffix != ".gpkg")


@pytest.mark.parametrize("name", [
    "证照" * 35 + ".csv",  # 214 bytes: with the drop id in front, too long to store as it is
    "..licenses.csv", "licenses.csv.ready", "licenses\nloaded    forged.csv", "licenses.part",
])
def test_any_name_yitu_drop_accepts_is_picked_up(name: str, yitu_env: Path,
                                                 tmp_path: Path) -> None:
    from pipelines import runner

    src_dir = tmp_path / "src"
    src_dir.mkdir()
    src = src_dir / name
    src.write_text("ZZBH\nA1\n", encoding="utf-8")
    landed = drop_file(settings(), src, "licenses")
    assert len(landed.name.encode()) <= NAME_BYTES
    [drop] = runner.ingest(settings())
    assert drop.file == name  # the department's own name, kept in the ledger
    assert drop.state == "rejected"  # answered (missing columns), never left in landing
    assert len(Path(drop.raw_path).name.encode()) < 255
    assert [p for p in (yitu_env / "landing" / "licenses").iterdir()] == []


def test_a_newline_in_a_name_forges_no_output_line(yitu_env: Path, tmp_path: Path) -> None:
    src = tmp_path / "licenses\nloaded    forged.csv"
    src.write_text("ZZBH\nA1\n", encoding="utf-8")
    drop_file(settings(), src, "licenses")
    proc = _run(yitu_env, "run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "licenses\\x0aloaded" in proc.stdout
    assert not any(line.startswith("loaded") for line in proc.stdout.splitlines())


def test_safe_name_keeps_the_extension() -> None:
    long = safe_name("证" * 100 + ".xlsx")
    assert long.endswith(".xlsx") and len(long.encode()) <= NAME_BYTES
    assert safe_name("a/b\\c.csv") == "a_b_c.csv"
    assert safe_name(".hidden.csv") == "hidden.csv"


def test_a_crashing_drop_is_failed_and_holds_back_nothing(
        yitu_env: Path, sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipelines import runner
    from pipelines.runner import drops

    s = settings()
    drop_file(s, sample_dir / "admin_divisions.gpkg", "admin_divisions")
    drop_file(s, sample_dir / "farmland_hsf.gpkg", "farmland_hsf")
    real = drops.validate_frame

    def bug(contract, frame, **kwargs):  # type: ignore[no-untyped-def]
        if contract.dataset == "admin_divisions":
            raise ValueError("a bug met on this file only: 13912340000")
        return real(contract, frame, **kwargs)

    monkeypatch.setattr(drops, "validate_frame", bug)
    summary = runner.run_all(s)  # no exception: the run goes on
    states = {d.dataset: d for d in summary.drops}
    failed = states["admin_divisions"]
    assert failed.state == "failed"
    assert states["farmland_hsf"].state == "loaded"  # not held back
    note = failed.notes["failure"]
    assert note["type"] == "builtins.ValueError" and "13912340000" not in note["detail"]
    assert "不是文件内容的问题" in failed.errors[0]["message"]
    answer = s.quarantine / "admin_divisions" / failed.drop_id
    assert (answer / "rejections.json").exists() and (answer / "answer.xlsx").exists()

    monkeypatch.setattr(drops, "validate_frame", real)  # the bug is fixed
    again = runner.run_all(s, retry=failed.drop_id)
    assert [(d.drop_id, d.state) for d in again.drops] == [(failed.drop_id, "loaded")]
    assert again.published  # the counties changed: published again
