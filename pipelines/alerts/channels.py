"""How alerts leave: email over SMTP (smtplib) and a JSON webhook (urllib), both configured by
the environment (`pipelines.config`: YITU_SMTP_URL, YITU_ALERT_FROM, YITU_ALERT_WEBHOOK).

Sockets time out quickly: a mail server or webhook that is down delays the alerts, never the
pipeline. A failure is returned as a short text for the ledger, never raised.
"""

from __future__ import annotations

import contextlib
import json
import smtplib
import urllib.request
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

from pipelines.alerts.events import Event
from pipelines.contracts import Contact

TIMEOUT_S = 5.0


class Channel(Protocol):
    name: str

    def recipients(self, event: Event) -> list[str]: ...

    def send(self, event: Event, recipient: str) -> None: ...

    def close(self) -> None: ...


class Email:
    """One SMTP connection per run, opened at the first message; one message per recipient."""

    name = "email"

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"YITU_SMTP_URL must be smtp://host:port or smtps://host:port, "
                             f"not {parts.scheme!r}")
        self.ssl = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.ssl else 25)
        self.login = (unquote(parts.username), unquote(parts.password or "")) \
            if parts.username else None
        self.sender = sender
        self._smtp: smtplib.SMTP | None = None

    def recipients(self, event: Event) -> list[str]:
        return [c.email for c in event.recipients]

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            smtp = (smtplib.SMTP_SSL if self.ssl else smtplib.SMTP)(
                self.host, self.port, timeout=TIMEOUT_S)
            if self.login:
                if not self.ssl and smtp.has_extn("starttls"):
                    smtp.starttls()  # never a password in clear where the server can encrypt
                smtp.login(*self.login)
            self._smtp = smtp
        return self._smtp

    def send(self, event: Event, recipient: str) -> None:
        who = next((c for c in event.recipients if c.email == recipient),
                   Contact(name=recipient, email=recipient))
        msg = EmailMessage()
        msg["Subject"] = event.subject
        msg["From"] = self.sender
        msg["To"] = formataddr((who.name, who.email))
        msg["Message-ID"] = make_msgid(domain="yitu")
        msg["X-Yitu-Event"] = event.key
        msg.set_content(f"{who.name}：\n\n{event.body}\n")
        self._connection().send_message(msg)

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):  # a server gone already
                self._smtp.quit()
            self._smtp = None


class Webhook:
    """One POST of the event as JSON per event; any 2xx is delivered."""

    name = "webhook"

    def __init__(self, url: str) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError("YITU_ALERT_WEBHOOK must be an http(s) URL")
        self.url = url

    def recipients(self, event: Event) -> list[str]:
        return ["webhook"]

    def send(self, event: Event, recipient: str) -> None:
        body = json.dumps({**event.payload(), "recipients": [c.name for c in event.recipients]},
                          ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8"})
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            if not 200 <= response.status < 300:
                raise OSError(f"webhook answered HTTP {response.status}")

    def close(self) -> None:
        pass
