"""The department portal (`yitu portal`): a Starlette application, server-rendered Chinese pages,
no script at all, served by uvicorn. It only drops files and reads answers: processing is
whatever processes drops (Airflow's watcher, or `yitu run`).

Environment:
  YITU_PORTAL_SECRET           key that signs session cookies (default: YITU_HOME/portal.key)
  YITU_PORTAL_TRUSTED_PROXIES  addresses whose X-Forwarded-For/-Proto are believed
                               (comma-separated; default 127.0.0.1)
  YITU_PORTAL_SECURE_COOKIES   1: cookies always Secure (the portal is only reached over TLS)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from pipelines.config import Settings
from pipelines.contracts import load_contract
from pipelines.portal.session import Sessions, portal_key
from pipelines.read.limits import MAX_FILE_BYTES
from pipelines.warehouse import Warehouse

HERE = Path(__file__).parent
CLERKS_TIME = ZoneInfo("Asia/Shanghai")  # the ledger keeps UTC; clerks read Beijing time
# No inline script or style anywhere: the pages use none, and the policy forbids them.
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; style-src 'self'; img-src 'self'; "
     b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),  # a department's answers are not kept by shared browsers
]


@dataclass
class Portal:
    """What every view needs; one per application."""

    settings: Settings
    wh: Warehouse
    sessions: Sessions
    pages: Environment
    max_upload_bytes: int

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        html = self.pages.get_template(template).render(request=request, **context)
        return HTMLResponse(html, status_code=status)


def _local(when: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return when.astimezone(CLERKS_TIME).strftime(fmt) if when else "—"


def _local_date(when: datetime | None) -> str:
    return _local(when, "%Y-%m-%d")


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in SECURITY_HEADERS}
                message["headers"] = [(k, v) for k, v in message.get("headers", [])
                                      if k.lower() not in names] + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if 300 <= status < 400 and isinstance(exc, HTTPException):  # "sign in first"
        return Response(status_code=status, headers=exc.headers)
    messages = {404: "页面不存在", 405: "不支持的请求", 413: "文件过大"}
    response = portal_of(request).render(request, "error.html", status=status,
                                         message=messages.get(status, "请求无法处理"))
    if status in (400, 413):
        # the rest of a refused body is not read: the server closes the connection instead
        # of draining it to find the next request
        response.headers["connection"] = "close"
    return response


def build_app(settings: Settings, wh: Warehouse, *, max_upload_bytes: int = MAX_FILE_BYTES,
              trusted_proxies: list[str] | None = None,
              secure_cookies: bool | None = None) -> ASGIApp:
    from pipelines.portal import auth, views

    if trusted_proxies is None:
        trusted_proxies = os.environ.get("YITU_PORTAL_TRUSTED_PROXIES", "127.0.0.1").split(",")
    if secure_cookies is None:
        secure_cookies = os.environ.get("YITU_PORTAL_SECURE_COOKIES") == "1"
    pages = Environment(loader=FileSystemLoader(HERE / "templates"),
                        autoescape=select_autoescape(default=True, default_for_string=True))
    pages.filters.update(local=_local, localdate=_local_date)
    pages.globals["title_of"] = lambda dataset: load_contract(dataset).title
    app = Starlette(routes=[
        Route("/login", auth.login_page, methods=["GET"]),
        Route("/login", auth.login, methods=["POST"]),
        Route("/logout", auth.logout, methods=["POST"]),
        *views.ROUTES,
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ], exception_handlers={HTTPException: _not_found})
    app.state.portal = Portal(settings, wh, Sessions(portal_key(settings.home), secure_cookies),
                              pages, max_upload_bytes)
    # uvicorn's and Starlette's ASGI type aliases differ, not the protocol
    proxied: ASGIApp = cast(ASGIApp, ProxyHeadersMiddleware(
        cast(Any, app), trusted_hosts=[h.strip() for h in trusted_proxies if h.strip()]))
    return SecurityHeaders(proxied)


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from pipelines.runner import warehouse

    app = build_app(settings, warehouse(settings))
    # proxy headers are handled by the application itself (trusted addresses only)
    uvicorn.run(app, host=host, port=port, proxy_headers=False, server_header=False,
                log_level="info")
