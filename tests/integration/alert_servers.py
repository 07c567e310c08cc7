"""Real servers the alerts are sent to in tests: an SMTP server (aiosmtpd) and an HTTP server
taking the webhook's JSON, both on 127.0.0.1 and a free port, each keeping what it received."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections import Counter
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailServer:
    """Start, stop and start again on the same port (a mail server that was down)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, EmailMessage]] = []  # (recipient, message)
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.received += [(str(rcpt), msg) for rcpt in envelope.rcpt_tos]
        return "250 OK"

    def start(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def take(self) -> list[tuple[str, EmailMessage]]:
        """What arrived since the last take."""
        got, self.received = self.received, []
        return got

    @staticmethod
    def per_event(mails: list[tuple[str, EmailMessage]]) -> dict[str, Counter[str]]:
        """Event key -> recipient -> messages received."""
        out: dict[str, Counter[str]] = {}
        for rcpt, msg in mails:
            out.setdefault(str(msg["X-Yitu-Event"]), Counter())[rcpt] += 1
        return out


class WebhookServer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                outer.received.append(json.loads(self.rfile.read(length).decode("utf-8")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/alerts"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def take(self) -> list[dict[str, Any]]:
        got, self.received = self.received, []
        return got

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
