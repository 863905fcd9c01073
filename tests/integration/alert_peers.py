"""Peers of the alerts service in tests: a webhook receiver that accepts only correctly
signed alerts, and an SMTP server (aiosmtpd) that keeps what it receives."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from greenmon.local.ports import free_port

SECRETS = {"A": "alpha-secret", "B": "beta-secret"}


# --- peers -------------------------------------------------------------------------------------
class WebhookReceiver:
    """An HTTP server that accepts only correctly signed alerts (per-enterprise secret)."""

    def __init__(self) -> None:
        # bound but not listening: the port is ours, and connections to it are refused
        self._placeholder = socket.socket()
        self._placeholder.bind(("127.0.0.1", 0))
        self.port = int(self._placeholder.getsockname()[1])
        self.docs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
        self.refused = 0
        self._server: ThreadingHTTPServer | None = None

    def url(self, enterprise: str) -> str:
        return f"http://127.0.0.1:{self.port}/{enterprise}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                enterprise = self.path.strip("/")
                body = self.rfile.read(int(self.headers["Content-Length"]))
                # the README's verification, verbatim
                expected = (
                    "sha256="
                    + hmac.new(SECRETS[enterprise].encode(), body, hashlib.sha256).hexdigest()
                )
                if not hmac.compare_digest(expected, self.headers["X-Greenmon-Signature"]):
                    receiver.refused += 1
                    self.send_response(401)
                else:
                    receiver.docs[enterprise].append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._placeholder.close()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._placeholder.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        self.mails.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.stop()


# aiosmtpd logs each connection from its own thread, also after pytest closed the capture
logging.getLogger("mail.log").setLevel(logging.WARNING)


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


class LateMailbox(Mailbox):
    """An SMTP server that is down (its port refuses connections) until ``start()``."""

    def __init__(self) -> None:
        super().__init__()
        # bound but not listening: the port is ours, and connections to it are refused
        self._placeholder = socket.socket()
        self._placeholder.bind(("127.0.0.1", 0))
        self.port = int(self._placeholder.getsockname()[1])
        self._controller: Controller | None = None

    def start(self) -> None:
        self._placeholder.close()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._placeholder.close()
        if self._controller is not None:
            self._controller.stop()


@pytest.fixture
def late_mailbox() -> Iterator[LateMailbox]:
    box = LateMailbox()
    yield box
    box.stop()
