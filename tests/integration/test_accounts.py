"""`yitu accounts` on both warehouses: the password from standard input, kept only as an
argon2id hash; departments as the contracts name them; a lockout that outlives the process."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from pipelines import accounts
from pipelines.cli import main
from pipelines.config import settings
from pipelines.runner import warehouse
from pipelines.warehouse import open_warehouse

PASSWORD = "a long enough password"


def _accounts(monkeypatch: pytest.MonkeyPatch, *args: str, password: str = PASSWORD) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    return main(["accounts", *args])


def test_add_disable_and_lockout(home: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert _accounts(monkeypatch, "add", "clerk1", "--department", "市场监督管理局") == 0
    assert _accounts(monkeypatch, "add", "m1", "--department", "农业农村局",
                     "--role", "monitor") == 0
    wh = warehouse(settings())
    t = wh.tables.accounts
    with wh.engine.connect() as conn:
        rows = {r.login: r for r in conn.execute(select(t))}
    assert rows["clerk1"].department == "市场监督管理局" and rows["clerk1"].role == "clerk"
    assert rows["m1"].role == "monitor"
    assert rows["clerk1"].password_hash.startswith("$argon2id$")
    assert PASSWORD not in rows["clerk1"].password_hash
    assert rows["clerk1"].password_hash != rows["m1"].password_hash  # salted
    # refused, each with exit 2 and the reason
    assert _accounts(monkeypatch, "add", "clerk1", "--department", "市场监督管理局") == 2
    assert _accounts(monkeypatch, "add", "x2", "--department", "财政局") == 2
    assert _accounts(monkeypatch, "add", "x3", "--department", "农业农村局", password="short") == 2
    assert _accounts(monkeypatch, "add", "../x", "--department", "农业农村局") == 2
    err = capsys.readouterr().err
    assert "exists already" in err and "unknown department" in err and "市场监督管理局" in err

    assert accounts.sign_in(wh, "clerk1", PASSWORD, "10.0.0.1") is not None
    for _ in range(accounts.LOGIN_ATTEMPTS):
        assert accounts.sign_in(wh, "clerk1", "wrong", "10.0.0.1") is None
    # another process, a new connection: still locked, even with the right password
    again = open_warehouse(settings().warehouse_url)
    assert accounts.locked(again, "clerk1", "10.0.0.9")
    assert accounts.sign_in(again, "clerk1", PASSWORD, "10.0.0.9") is None
    assert accounts.sign_in(again, "m1", PASSWORD, "10.0.0.1") is not None  # others are not

    assert _accounts(monkeypatch, "disable", "m1") == 0
    assert accounts.get_account(wh, "m1") is None
    assert accounts.sign_in(wh, "m1", PASSWORD, "10.0.0.2") is None
    assert _accounts(monkeypatch, "disable", "nobody") == 2


def test_an_upload_is_found_by_its_department_only(home: Path) -> None:
    from pipelines.portal import answers

    wh = warehouse(settings())
    up = answers.Upload("u1", "clerk1", "licenses", "证照.xlsx", "portal-u1.xlsx",
                        datetime.now(UTC))
    answers.record_upload(wh, up, "0" * 64, 10)
    amr = accounts.Account("clerk1", "市场监督管理局", "clerk", False)
    found = answers.visible_upload(wh, amr, "u1")
    assert (found.dataset, found.file, found.landed_as) == ("licenses", "证照.xlsx",
                                                             "portal-u1.xlsx")
    agri = accounts.Account("clerk2", "农业农村局", "clerk", False)
    with pytest.raises(answers.NotFound):
        answers.visible_upload(wh, agri, "u1")
    assert answers.upload_drop(wh, found) is None  # not detected yet: "received"


def test_the_password_is_read_from_standard_input(yitu_env: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", "accounts", "add", "clerk9",
                           "--department", "12345政务服务便民热线"], input=PASSWORD + "\n",
                          capture_output=True, text=True, env=os.environ.copy())
    assert done.returncode == 0, done.stderr
    wh = warehouse(settings())
    assert accounts.sign_in(wh, "clerk9", PASSWORD, "127.0.0.1") is not None
