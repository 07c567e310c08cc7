"""What the portal tests share: signing in through the form, finding a page's CSRF token."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from starlette.testclient import TestClient
from starlette.types import ASGIApp

from pipelines.accounts import add_account
from pipelines.warehouse import Warehouse

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PASSWORD = "correct horse battery"
# login -> department, role
ACCOUNTS = {"amr": ("市场监督管理局", "clerk"), "agri": ("农业农村局", "clerk"),
            "hotline": ("12345政务服务便民热线", "clerk"), "watcher": ("农业农村局", "monitor")}


def add_accounts(wh: Warehouse) -> None:
    for login, (department, role) in ACCOUNTS.items():
        add_account(wh, login, department, role, PASSWORD)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, login: str, password: str = PASSWORD,
            headers: dict[str, str] | None = None) -> int:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"login": login, "password": password, "csrf": token},
                    headers=headers, follow_redirects=False)
    return int(r.status_code)


def upload(client: TestClient, dataset: str, path: Path, name: str | None = None,
           content_type: str = "application/octet-stream") -> str:
    """Upload through the dataset page's form; the URL it sends the clerk to."""
    token = csrf_of(client.get(f"/datasets/{dataset}").text)
    r = client.post(f"/datasets/{dataset}/upload", data={"csrf": token},
                    files={"file": (name or path.name, path.read_bytes(), content_type)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    return str(r.headers["location"])


@contextmanager
def served(app: ASGIApp) -> Iterator[str]:
    """The application on a real uvicorn on 127.0.0.1 (a free port), in a thread."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           proxy_headers=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
