"""Signing in and out, and who is asking: every view starts with `signed_in`."""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from pipelines.accounts import Account, get_account, locked, sign_in
from pipelines.portal.app import Portal, portal_of
from pipelines.portal.session import CSRF_FIELD, Session, csrf_ok

SMALL_FORM_BYTES = 16 * 1024  # the sign-in and sign-out forms: a few short fields


def client_address(request: Request) -> str:
    # X-Forwarded-For is already applied for trusted proxies only (ProxyHeadersMiddleware)
    return request.client.host if request.client else "unknown"


def signed_in(request: Request) -> tuple[Portal, Account, Session]:
    """The portal, the enabled account and the session, or a 303 to the sign-in page."""
    portal = portal_of(request)
    session = portal.sessions.read(request)
    account = get_account(portal.wh, session.login) if session and session.login else None
    if session is None or account is None:
        raise HTTPException(303, headers={"location": "/login"})
    return portal, account, session


async def small_form(request: Request) -> dict[str, str]:
    """A url-encoded form, refused (413) past SMALL_FORM_BYTES however it is sent."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > SMALL_FORM_BYTES:
            raise HTTPException(413)
    try:
        parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=10)
    except ValueError:  # more fields than any of these forms has
        raise HTTPException(400) from None
    return {k: v[0] for k, v in parsed.items()}


def login_page(request: Request) -> Response:
    portal = portal_of(request)
    session = portal.sessions.read(request) or portal.sessions.new(None)
    response = portal.render(request, "login.html", csrf=session.csrf)
    portal.sessions.attach(request, response, session)
    return response


async def login(request: Request) -> Response:
    portal = portal_of(request)
    form = await small_form(request)
    session = portal.sessions.read(request)
    if not csrf_ok(session, form.get(CSRF_FIELD)):
        raise HTTPException(403)
    assert session is not None
    user, password, address = form.get("login", ""), form.get("password", ""), client_address(request)
    if await run_in_threadpool(locked, portal.wh, user, address):
        return portal.render(request, "login.html", status=429, csrf=session.csrf,
                             error="登录失败次数过多，已暂时锁定，请 15 分钟后再试")
    account = await run_in_threadpool(sign_in, portal.wh, user, password, address)
    if account is None:
        return portal.render(request, "login.html", status=401, csrf=session.csrf,
                             error="登录名或密码错误")
    response = RedirectResponse("/", status_code=303)
    portal.sessions.attach(request, response, portal.sessions.new(account.login))
    return response


async def logout(request: Request) -> Response:
    portal = portal_of(request)
    form = await small_form(request)
    if not csrf_ok(portal.sessions.read(request), form.get(CSRF_FIELD)):
        raise HTTPException(403)
    response = RedirectResponse("/login", status_code=303)
    portal.sessions.clear(request, response)
    return response
