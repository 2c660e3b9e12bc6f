"""A small local Twilio: the Messages and Calls *create* endpoints the real client calls, call
updates (``POST Calls/{CallSid}.json``) and recordings (``GET Recordings/{sid}.mp3``,
``DELETE Recordings/{sid}.json``) for the phone desk.

Tests and the demo point the real ``twilio`` client at it (``RESCUE_TWILIO_API_BASE_URL``). It
checks the account's Basic auth, answers like Twilio (``201`` with a JSON resource and an ``SM…``
or ``CA…`` sid, Twilio-style error bodies), records what it got, and sends the delivery status
callbacks back to the ``StatusCallback`` URL, signed with the auth token exactly as Twilio signs
them (``X-Twilio-Signature``).

It can be told to misbehave: :meth:`FakeTwilio.fail_next` (answer 500 or another status),
:meth:`FakeTwilio.delay_next` (stall, then either drop the request like a lost packet or create
it late), :meth:`FakeTwilio.fail_ratio` (a seeded share of failures), and per-number outcomes
(``undelivered``, ``no-answer``, ``busy``). The same commands are available over HTTP at
``POST /fake/control`` so a separate process (a benchmark, a demo) can steer it; ``GET /`` shows
what was sent, ``GET /fake/messages`` returns it as JSON.

Run alone: ``python -m notify.fake_twilio --port 8025 --auth-token T --account-sid AC…``.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import logging
import queue
import random
import secrets
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlparse

from notify.signatures import HEADER, sign

log = logging.getLogger("rescue.fake_twilio")
API = "/2010-04-01/Accounts/"
MESSAGE_FINAL = ("delivered", "undelivered", "failed")
CALL_FINAL = ("completed", "no-answer", "busy", "failed")
#: ``poster(url, params, headers) -> HTTP status``; the default POSTs over HTTP.
Poster = Callable[[str, dict[str, str], dict[str, str]], int]


@dataclass
class Callback:
    url: str
    params: dict[str, str]
    headers: dict[str, str]


@dataclass
class Received:
    """One create request that the fake accepted (a message or a call)."""

    sid: str
    kind: str  # "sms" | "voice"
    to: str
    from_: str
    body: str | None
    twiml: str | None
    status_callback: str | None
    created_at: datetime
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int = 500
    delay_s: float = 0.0
    then: str = "fail"  # fail | drop | create


def _post_http(url: str, params: dict[str, str], headers: dict[str, str]) -> int:
    data = "&".join(f"{k}={urllib.request.quote(v, safe='')}" for k, v in params.items())
    req = urllib.request.Request(url, data=data.encode(), method="POST", headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class FakeTwilio:
    """The fake server. ``callbacks="thread"`` posts status callbacks at once from a background
    thread; ``"manual"`` queues them until :meth:`send_callbacks` (deterministic tests)."""

    def __init__(self, *, account_sid: str | None = None, auth_token: str | None = None,
                 host: str = "127.0.0.1", port: int = 0, callbacks: str = "thread",
                 poster: Poster | None = None) -> None:
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.callbacks_mode = callbacks
        self.poster: Poster = poster or _post_http
        self.received: list[Received] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status answered)
        self.callbacks_sent: list[tuple[Callback, int]] = []
        self.outcomes: dict[str, str] = {}
        self.updates: list[tuple[str, dict[str, str]]] = []  # (CallSid, fields) of call updates
        self.recordings: dict[str, bytes] = {}  # RecordingSid -> audio (issue 15)
        self.deleted_recordings: list[str] = []
        self._faults: list[_Fault] = []
        self._ratio = 0.0
        self._ratio_status = 500
        self._rng = random.Random(0)
        self._lock = threading.Lock()
        self._pending: queue.Queue[Callback | None] = queue.Queue()
        self._seq = itertools.count(1)
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        t = threading.Thread(target=self._server.serve_forever, name="fake-twilio",
                             daemon=True)
        t.start()
        self._threads.append(t)
        if self.callbacks_mode == "thread":
            c = threading.Thread(target=self._callback_worker, name="fake-twilio-callbacks",
                                 daemon=True)
            c.start()
            self._threads.append(c)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._pending.put(None)
        for t in self._threads:
            t.join(timeout=5)

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- commands --------------------------------------------------------------------------
    def fail_next(self, n: int = 1, *, status: int = 500) -> None:
        """The next ``n`` create requests are answered with ``status`` (nothing is created)."""
        with self._lock:
            self._faults.extend(_Fault(status=status) for _ in range(n))

    def delay_next(self, n: int = 1, *, seconds: float, then: str = "drop") -> None:
        """Stall the next ``n`` create requests for ``seconds``; then ``drop`` them (answer 504,
        create nothing: a request lost on the way) or ``create`` them late (the client may have
        given up already — the ambiguous case real providers have too)."""
        if then not in ("drop", "create"):
            raise ValueError("then is 'drop' or 'create'")
        with self._lock:
            self._faults.extend(_Fault(status=504, delay_s=seconds, then=then)
                                for _ in range(n))

    def fail_ratio(self, ratio: float, *, seed: int = 0, status: int = 500) -> None:
        """From now on answer ``status`` to a seeded random share ``ratio`` of create requests."""
        with self._lock:
            self._ratio, self._ratio_status, self._rng = ratio, status, random.Random(seed)

    def set_outcome(self, to: str, outcome: str) -> None:
        """The final status reported for messages/calls to ``to`` (default delivered/completed)."""
        self.outcomes[to] = outcome

    def add_recording(self, call_sid: str, *, duration_s: int = 42) -> str:
        """A finished recording of ``call_sid`` (some bytes standing for the audio); returns
        its ``RE…`` sid. Post its status callback with :meth:`inbound`."""
        sid = f"RE{next(self._seq):08x}{secrets.token_hex(12)}"
        with self._lock:
            self.recordings[sid] = b"ID3fake-recording:" + call_sid.encode() + \
                b":" + str(duration_s).encode() + b"\x00" * 256
        return sid

    def reset(self) -> None:
        with self._lock:
            self.updates.clear()
            self.recordings.clear()
            self.deleted_recordings.clear()
            self._faults.clear()
            self._ratio = 0.0
            self.received.clear()
            self.requests.clear()
            self.callbacks_sent.clear()
            self.outcomes.clear()

    # --- what it got -----------------------------------------------------------------------
    def messages(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.kind == "sms"]

    def calls(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.kind == "voice"]

    def pending_callbacks(self) -> int:
        return self._pending.qsize()

    def send_callbacks(self, poster: Poster | None = None) -> int:
        """Post the queued status callbacks now (``manual`` mode); returns how many."""
        n = 0
        while True:
            try:
                cb = self._pending.get_nowait()
            except queue.Empty:
                return n
            try:
                if cb is not None:
                    self._post(cb, poster or self.poster)
                    n += 1
            finally:
                self._pending.task_done()

    def wait_idle(self, timeout_s: float = 10.0) -> bool:
        """Wait until every callback queued so far was posted (``thread`` mode)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._pending.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def inbound(self, url: str, params: dict[str, str]) -> Callback:
        """A signed webhook as Twilio would send it (an SMS from a phone, a key press)."""
        return Callback(url, params, {HEADER: sign(self.auth_token, url, params)})

    # --- internals -------------------------------------------------------------------------
    def _post(self, cb: Callback, poster: Poster) -> None:
        try:
            status = poster(cb.url, cb.params, cb.headers)
        except Exception as exc:  # the app may be down; Twilio does not retry either
            log.warning("status callback to %s failed: %s", cb.url, exc)
            status = 0
        with self._lock:
            self.callbacks_sent.append((cb, status))

    def _callback_worker(self) -> None:
        while True:
            cb = self._pending.get()
            try:
                if cb is None:
                    return
                self._post(cb, self.poster)
            finally:
                self._pending.task_done()

    def _queue_callbacks(self, r: Received) -> None:
        if not r.status_callback:
            return
        common = {"AccountSid": self.account_sid, "From": r.from_, "To": r.to,
                  "ApiVersion": "2010-04-01"}
        if r.kind == "sms":
            outcome = self.outcomes.get(r.to, "delivered")
            steps = ["sent", outcome] if outcome in ("delivered", "undelivered") else [outcome]
            for status in steps:
                params = {**common, "MessageSid": r.sid, "SmsSid": r.sid,
                          "MessageStatus": status, "SmsStatus": status}
                if status in ("undelivered", "failed"):
                    params["ErrorCode"] = "30003"
                self._queue(r.status_callback, params)
        else:
            outcome = self.outcomes.get(r.to, "completed")
            steps = ["initiated", "ringing"]
            steps += ["in-progress", "completed"] if outcome == "completed" else [outcome]
            for status in steps:
                params = {**common, "CallSid": r.sid, "CallStatus": status,
                          "Direction": "outbound-api"}
                if status == "completed":
                    params["CallDuration"] = "18"
                self._queue(r.status_callback, params)

    def _queue(self, url: str, params: dict[str, str]) -> None:
        self._pending.put(Callback(url, params, {HEADER: sign(self.auth_token, url, params)}))

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            if self._faults:
                return self._faults.pop(0)
            if self._ratio and self._rng.random() < self._ratio:
                return _Fault(status=self._ratio_status)
        return None

    def _create(self, kind: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        to, from_ = params.get("To", ""), params.get("From", "")
        if not to:
            return 400, _error(21604, "A 'To' phone number is required.")
        if not to.startswith("+") or not to[1:].isdigit():
            return 400, _error(21211, f"The 'To' number {to} is not a valid phone number.")
        if kind == "sms" and not params.get("Body"):
            return 400, _error(21602, "Message body is required.")
        if kind == "voice" and not (params.get("Twiml") or params.get("Url")):
            return 400, _error(21205, "Url or Twiml parameter is required.")
        prefix = "SM" if kind == "sms" else "CA"
        sid = f"{prefix}{next(self._seq):08x}{secrets.token_hex(12)}"
        now = datetime.now(UTC)
        r = Received(sid, kind, to, from_, params.get("Body"), params.get("Twiml"),
                     params.get("StatusCallback"), now, params)
        with self._lock:
            self.received.append(r)
        log.info("fake twilio %s %s to %s: %s", kind, sid, to, r.body or r.twiml)
        self._queue_callbacks(r)
        resource = {"sid": sid, "account_sid": self.account_sid, "to": to, "from": from_,
                    "status": "queued", "date_created": format_datetime(now, usegmt=True),
                    "date_updated": format_datetime(now, usegmt=True), "api_version":
                    "2010-04-01", "uri": f"{API}{self.account_sid}/"
                    f"{'Messages' if kind == 'sms' else 'Calls'}/{sid}.json"}
        if kind == "sms":
            resource.update(body=r.body, direction="outbound-api", num_segments="1")
        else:
            resource.update(direction="outbound-api")
        return 201, resource

    def _update_call(self, sid: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """``POST Calls/{CallSid}.json``: new TwiML or Url for a live call, or
        ``Status=completed`` to hang it up. Inbound calls are not created here, so any ``CA…``
        sid is accepted."""
        if not sid.startswith("CA"):
            return 404, _error(20404, f"The requested resource /Calls/{sid}.json was not found")
        if not (params.get("Twiml") or params.get("Url") or params.get("Status")):
            return 400, _error(21205, "Url, Twiml or Status parameter is required.")
        fault = self._next_fault()
        if fault is not None and fault.then != "create":
            return fault.status, _error(20500, "Internal Server Error")
        with self._lock:
            self.updates.append((sid, dict(params)))
        now = datetime.now(UTC)
        status = "completed" if params.get("Status") == "completed" else "in-progress"
        return 200, {"sid": sid, "account_sid": self.account_sid, "status": status,
                     "date_updated": format_datetime(now, usegmt=True),
                     "api_version": "2010-04-01",
                     "uri": f"{API}{self.account_sid}/Calls/{sid}.json"}

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid and password == self.auth_token

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # answer in one segment: without this, Nagle + delayed ACK add ~40 ms per call
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

            def _send(self, status: int, body: Any, ctype: str = "application/json") -> None:
                raw = (json.dumps(body, ensure_ascii=False) if ctype == "application/json"
                       else str(body)).encode()
                entry = (self.command, self.path, status)
                # logged before answering: a client that has the answer can rely on the log
                with fake._lock:
                    fake.requests.append(entry)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    with fake._lock:  # the client had given up (timed out)
                        for at in range(len(fake.requests) - 1, -1, -1):
                            if fake.requests[at] is entry:
                                fake.requests[at] = (self.command, self.path, -status)
                                break

            def _form(self) -> dict[str, str]:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    return {k: str(v) for k, v in json.loads(raw or "{}").items()}
                out: dict[str, str] = {}
                for k, v in parse_qsl(raw, keep_blank_values=True):
                    out[k] = v if k not in out else out[k] + "," + v
                return out

            def _account_ok(self, account: str) -> bool:
                if account != fake.account_sid or not fake._authorised(
                        self.headers.get("Authorization")):
                    self._send(401, _error(20003, "Authenticate"))
                    return False
                return True

            def _recording_sid(self, path: str, ext: str) -> tuple[str, str] | None:
                parts = path[len(API):].split("/") if path.startswith(API) else []
                if len(parts) == 3 and parts[1] == "Recordings" and parts[2].endswith(ext):
                    return parts[0], parts[2][:-len(ext)]
                return None

            def do_DELETE(self) -> None:
                path = urlparse(self.path).path
                found = self._recording_sid(path, ".json")
                if found is None:
                    self._send(404, _error(20404, "not found"))
                    return
                if not self._account_ok(found[0]):
                    return
                with fake._lock:
                    gone = fake.recordings.pop(found[1], None)
                    if gone is not None:
                        fake.deleted_recordings.append(found[1])
                if gone is None:
                    self._send(404, _error(20404, "The requested resource was not found"))
                    return
                with fake._lock:
                    fake.requests.append((self.command, self.path, 204))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:
                path = urlparse(self.path).path
                found = self._recording_sid(path, ".mp3")
                if found is not None:
                    if not self._account_ok(found[0]):
                        return
                    audio = fake.recordings.get(found[1])
                    if audio is None:
                        self._send(404, _error(20404, "not found"))
                        return
                    with fake._lock:
                        fake.requests.append((self.command, self.path, 200))
                    self.send_response(200)
                    self.send_header("Content-Type", "audio/mpeg")
                    self.send_header("Content-Length", str(len(audio)))
                    self.end_headers()
                    self.wfile.write(audio)
                    return
                if path == "/fake/messages":
                    self._send(200, [_public(r) for r in list(fake.received)])
                elif path == "/":
                    self._send(200, _page(list(fake.received)), "text/html")
                else:
                    self._send(404, _error(20404, "not found"))

            def do_POST(self) -> None:
                path = urlparse(self.path).path
                params = self._form()
                if path == "/fake/control":
                    fake._control(params)
                    self._send(200, {"ok": True})
                    return
                if not path.startswith(API):
                    self._send(404, _error(20404, "not found"))
                    return
                parts = path[len(API):].split("/")
                if len(parts) == 3 and parts[1] == "Calls" and parts[2].endswith(".json"):
                    if self._account_ok(parts[0]):  # update a live call (issue 15)
                        status, body = fake._update_call(parts[2][:-5], params)
                        self._send(status, body)
                    return
                if len(parts) != 2 or parts[1] not in ("Messages.json", "Calls.json"):
                    self._send(404, _error(20404, "not found"))
                    return
                if parts[0] != fake.account_sid or not fake._authorised(
                        self.headers.get("Authorization")):
                    self._send(401, _error(20003, "Authenticate"))
                    return
                fault = fake._next_fault()
                if fault is not None:
                    if fault.delay_s:
                        time.sleep(fault.delay_s)
                    if fault.then != "create":
                        self._send(fault.status, _error(20500, "Internal Server Error"))
                        return
                kind = "sms" if parts[1] == "Messages.json" else "voice"
                status, body = fake._create(kind, params)
                self._send(status, body)

        return Handler

    def _control(self, params: dict[str, str]) -> None:
        if params.get("reset"):
            self.reset()
        if params.get("fail_next"):
            self.fail_next(int(params["fail_next"]), status=int(params.get("status", 500)))
        if params.get("delay_next"):
            self.delay_next(int(params["delay_next"]), seconds=float(params["seconds"]),
                            then=params.get("then", "drop"))
        if "fail_ratio" in params:
            self.fail_ratio(float(params["fail_ratio"]), seed=int(params.get("seed", 0)))
        if params.get("outcome_to"):
            self.set_outcome(params["outcome_to"], params["outcome"])


def _error(code: int, message: str) -> dict[str, Any]:
    status = {20003: 401, 20404: 404, 20500: 500}.get(code, 400)
    return {"code": code, "message": message, "more_info":
            f"https://www.twilio.com/docs/errors/{code}", "status": status}


def _public(r: Received) -> dict[str, Any]:
    return {"sid": r.sid, "kind": r.kind, "to": r.to, "from": r.from_, "body": r.body,
            "twiml": r.twiml, "created_at": r.created_at.isoformat()}


def _page(rows: list[Received]) -> str:
    items = "".join(
        f"<tr><td>{escape(r.created_at.strftime('%H:%M:%S'))}</td><td>{r.kind}</td>"
        f"<td>{escape(r.to)}</td><td>{escape(r.body or r.twiml or '')}</td></tr>"
        for r in reversed(rows))
    return ("<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=3>"
            "<title>Fake Twilio</title><h1>Fake Twilio · 短信/语音记录</h1>"
            "<table border=1 cellpadding=4><tr><th>time</th><th>kind</th><th>to</th>"
            f"<th>text</th></tr>{items}</table>")


def main() -> None:  # pragma: no cover - manual runs
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8025)
    p.add_argument("--account-sid")
    p.add_argument("--auth-token")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO)
    fake = FakeTwilio(account_sid=args.account_sid, auth_token=args.auth_token, host=args.host,
                      port=args.port).start()
    print(f"fake Twilio at {fake.base_url}  account {fake.account_sid}  token {fake.auth_token}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
