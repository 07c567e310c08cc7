"""The signed session cookie, the CSRF token every form carries, and who is signed in.

The cookie holds only the login, a CSRF token and when it was issued, signed with the portal's
key (itsdangerous); the account is read from the warehouse on every request, so a disabled
account is signed out at once. HttpOnly and SameSite=Strict always; Secure when the request
came over TLS (directly, or through a trusted proxy's X-Forwarded-Proto) or when
YITU_PORTAL_SECURE_COOKIES=1 says the portal is only ever reached over TLS.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "yitu_portal"
MAX_AGE_SECONDS = 8 * 3600  # a working day: a clerk signs in once in the morning
CSRF_FIELD = "csrf"


def portal_key(home: Path) -> str:
    """YITU_PORTAL_SECRET, else a random key kept in YITU_HOME (shared by the portal's
    workers, readable by its owner only), made on first start."""
    if env := os.environ.get("YITU_PORTAL_SECRET"):
        return env
    path = home / "portal.key"
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()


@dataclass(frozen=True)
class Session:
    login: str | None
    csrf: str


class Sessions:
    def __init__(self, key: str, secure_always: bool = False) -> None:
        self._signer = URLSafeTimedSerializer(key, salt="yitu-portal-session")
        self.secure_always = secure_always

    def read(self, request: Request) -> Session | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data: dict[str, Any] = self._signer.loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        csrf = data.get("csrf")
        if not isinstance(csrf, str):
            return None
        login = data.get("login")
        return Session(login if isinstance(login, str) else None, csrf)

    def new(self, login: str | None) -> Session:
        """A new session with a new CSRF token: on every sign-in, so a planted cookie is
        useless."""
        return Session(login, secrets.token_urlsafe(32))

    def attach(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(COOKIE, self._signer.dumps({"login": session.login,
                                                        "csrf": session.csrf}),
                            max_age=MAX_AGE_SECONDS, path="/", httponly=True, samesite="strict",
                            secure=self.secure_always or request.url.scheme == "https")

    def clear(self, request: Request, response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                               secure=self.secure_always or request.url.scheme == "https")


def csrf_ok(session: Session | None, sent: object) -> bool:
    return (session is not None and isinstance(sent, str)
            and hmac.compare_digest(session.csrf.encode(), sent.encode()))
