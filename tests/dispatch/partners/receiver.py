"""A real partner receiver on 127.0.0.1 for the tests: it checks every push's signature with
its own implementation of the documented rule and records what it accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def expected_signature(secret: str, t: str, body: bytes) -> str:
    """The rule as a partner reads it in the README, written independently of the server."""
    return hmac.new(secret.encode("utf-8"), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


@dataclass
class Received:
    event: str
    delivery_id: str
    body: dict[str, Any]


@dataclass
class Receiver:
    secret: str = ""
    mode: str = "ok"  # ok | 500 | slow | hang
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    attempts: int = 0
    bad_signatures: int = 0
    _server: ThreadingHTTPServer | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.attempts += 1
                if owner.mode == "hang":
                    time.sleep(owner.delay_s or 2.0)
                if owner.mode == "slow":
                    time.sleep(owner.delay_s or 0.3)
                if owner.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"boom")
                    return
                parts = dict(p.split("=", 1) for p in
                             self.headers.get("X-Rescue-Signature", "").split(","))
                ok = hmac.compare_digest(expected_signature(owner.secret, parts.get("t", ""),
                                                            body), parts.get("v1", ""))
                if not ok or abs(time.time() - int(parts.get("t", "0"))) > 300:
                    owner.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                owner.received.append(Received(self.headers["X-Rescue-Event"],
                                               self.headers["X-Rescue-Delivery"],
                                               json.loads(body)))
                self.send_response(204)
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, incident_id: int | None = None) -> list[str]:
        return [r.event for r in self.received
                if incident_id is None or r.body["incident"]["id"] == incident_id]

    def unique(self) -> list[Received]:
        seen: dict[str, Received] = {}
        for r in self.received:
            seen.setdefault(r.delivery_id, r)
        return list(seen.values())
