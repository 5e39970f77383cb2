"""A real webhook receiver on loopback: a threading `http.server` that verifies each POST
with the `standardwebhooks` package and keeps what it received.

`answers` scripts the status codes of the next requests (then `default`); `down()` closes
the listening socket so connections are refused, `up()` listens again on the same port.
`redirect_to` makes it answer 302 with that Location (a redirect the sender must not follow).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float
    payload: Any = None
    #: Wall-clock time of arrival (to compare with a database timestamp).
    wall: float = 0.0


@dataclass
class Receiver:
    secret: str = ""
    default: int = 200
    answers: list[int] = field(default_factory=list)
    redirect_to: str | None = None
    #: Seconds to wait before answering each next request (then at once).
    delays: list[float] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._keep(self.path, headers, body)
                code, location = receiver._next_answer()
                with receiver._lock:
                    delay = receiver.delays.pop(0) if receiver.delays else 0.0
                time.sleep(delay)
                self.send_response(code)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _keep(self, path: str, headers: dict[str, str], body: bytes) -> None:
        verified, payload = True, None
        try:
            payload = Verifier(self.secret).verify(body, headers) if self.secret else None
        except WebhookVerificationError:
            verified = False
        with self._lock:
            self.received.append(Received(path, headers, body, verified and bool(self.secret),
                                          time.monotonic(), payload, time.time()))

    def _next_answer(self) -> tuple[int, str | None]:
        if self.redirect_to:
            return 302, self.redirect_to
        with self._lock:
            return (self.answers.pop(0) if self.answers else self.default), None

    def wait(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        raise AssertionError(f"{count} webhook(s) expected, {len(self.received)} received")

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received]
