"""Portal accounts (`yitu accounts`): who may sign in, for which department, and the lockout.

A clerk belongs to one department, named as the contracts name it (`department:`); a monitor
reads every department. Passwords are kept as argon2id hashes only. Failed sign-ins are rows in
the warehouse (`audit.login_failures`), so a lockout survives a restart and holds across the
portal's workers; they are counted per login and per client address.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, insert, select, update

from pipelines.config import UsageError
from pipelines.contracts import all_contracts
from pipelines.warehouse import Warehouse

Role = Literal["clerk", "monitor"]
ROLES: tuple[Role, ...] = ("clerk", "monitor")
LOGIN_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}")
MIN_PASSWORD_CHARS = 10
# Five wrong passwords lock a login for a quarter of an hour: enough for typos, far too few
# to guess. An address gets more, since one office's clerks share its address.
LOCK_WINDOW = timedelta(minutes=15)
LOGIN_ATTEMPTS = 5
ADDRESS_ATTEMPTS = 20
_hasher = PasswordHasher()  # argon2id with the library's current (RFC 9106 low-memory) profile
# Verified when the login is unknown, so an unknown login costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class Account:
    login: str
    department: str
    role: Role
    disabled: bool

    def reads(self, department: str) -> bool:
        """Whether this account may see a department's datasets, drops and answers."""
        return self.role == "monitor" or department == self.department


def departments() -> list[str]:
    """Every department the contracts name, in contract order."""
    return list(dict.fromkeys(c.department for c in all_contracts()))


def add_account(wh: Warehouse, login: str, department: str, role: str, password: str) -> Account:
    if not LOGIN_PATTERN.fullmatch(login):
        raise UsageError(f"login {login!r}: 2-64 letters, digits, and . _ @ - (starting with a "
                         "letter or digit)")
    if department not in departments():
        raise UsageError(f"unknown department {department!r}; the contracts name: "
                         f"{', '.join(departments())}")
    if role not in ROLES:
        raise UsageError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsageError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    t = wh.tables.accounts
    with wh.engine.begin() as conn:
        if conn.execute(select(t.c.login).where(t.c.login == login)).first():
            raise UsageError(f"account {login!r} exists already")
        conn.execute(insert(t).values(login=login, department=department, role=role,
                                      password_hash=_hasher.hash(password), disabled=False,
                                      created_at=datetime.now(UTC)))
    return Account(login, department, role, False)


def disable_account(wh: Warehouse, login: str) -> None:
    """Sign-in refused from now on; open sessions end at their next request."""
    t = wh.tables.accounts
    with wh.engine.begin() as conn:
        done = conn.execute(update(t).where(t.c.login == login).values(disabled=True))
    if not done.rowcount:
        raise UsageError(f"no account {login!r}")


def get_account(wh: Warehouse, login: str) -> Account | None:
    """The account if it exists and is enabled."""
    t = wh.tables.accounts
    with wh.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.login == login)).first()
    if row is None or row.disabled:
        return None
    return Account(row.login, row.department, row.role, bool(row.disabled))


def _subjects(login: str, address: str) -> tuple[str, str]:
    return f"login:{login}", f"addr:{address}"


def locked(wh: Warehouse, login: str, address: str, now: datetime | None = None) -> bool:
    """Too many recent failures for this login or from this address."""
    now = now or datetime.now(UTC)
    t = wh.tables.login_failures
    by_login, by_address = _subjects(login, address)
    q = (select(t.c.subject, func.count()).where(t.c.subject.in_((by_login, by_address)),
                                                 t.c.failed_at > now - LOCK_WINDOW)
         .group_by(t.c.subject))
    with wh.engine.connect() as conn:
        counts: dict[str, int] = {str(s): int(n) for s, n in conn.execute(q).all()}
    return (counts.get(by_login, 0) >= LOGIN_ATTEMPTS
            or counts.get(by_address, 0) >= ADDRESS_ATTEMPTS)


def sign_in(wh: Warehouse, login: str, password: str, address: str) -> Account | None:
    """The account if the password is right and neither the login nor the address is locked;
    a failure is recorded against both. Callers check `locked` first to say why."""
    now = datetime.now(UTC)
    if locked(wh, login, address, now):
        return None
    t = wh.tables.accounts
    with wh.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.login == login)).first()
    ok = False
    with contextlib.suppress(VerificationError, InvalidHashError):
        ok = _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    f = wh.tables.login_failures
    by_login, by_address = _subjects(login, address)
    with wh.engine.begin() as conn:
        if not ok or row is None or row.disabled:
            conn.execute(insert(f), [{"subject": s, "failed_at": now} for s in (by_login, by_address)])
            # old failures go, so the table stays small
            conn.execute(delete(f).where(f.c.failed_at < now - 2 * LOCK_WINDOW))
            return None
        conn.execute(delete(f).where(f.c.subject == by_login))
    return Account(row.login, row.department, row.role, False)
