"""Request limits enforced while reading, before any route buffers or parses the body.

An ASGI middleware (``RequestGuard``) wraps ``receive``: ``Content-Length`` is checked first,
then the bytes actually received are counted, and a body over its route's limit is answered
413 problem+json without being read further. Requests that need a signed-in user but carry no
credentials at all are answered 401 before their body is read (FastAPI parses the body before it
runs the dependencies that would refuse them). The bounded body is then screened once
(``dispatch.security.inputs``: JSON depth, NaN/Infinity, NUL, integer range; NUL in form fields,
the query string and the path) and handed on unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from dispatch.errors import PROBLEM_JSON, problem_code
from dispatch.security.inputs import InputRefused, check_form, check_query, parse_json

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE = b"rescue_token="

# Routes that authenticate themselves (a signature, a crew link, a password): no login needed.
DEVICE_PATHS = ("/api/v1/telemetry/events", "/api/v1/telemetry/heartbeat")
REGISTRY_IMPORT_PATH = "/api/v1/registry/import"  # multipart upload of the import files
OPEN_PATHS = ("/api/v1/auth/token", "/api/v1/auth/link", "/api/v1/auth/logout",
              *DEVICE_PATHS, "/twilio/")


@dataclass(frozen=True, slots=True)
class Limits:
    """Body limits in bytes: JSON routes by default, and the few routes that differ."""

    default: int = 64 * 1024
    telemetry: int = 512 * 1024
    login: int = 4 * 1024
    twilio: int = 16 * 1024
    registry_import: int = 32 * 1024 * 1024  # issue 13: a city's registry files

    def for_path(self, path: str) -> int:
        if path in DEVICE_PATHS:
            return self.telemetry
        if path == REGISTRY_IMPORT_PATH:
            return self.registry_import
        if path in ("/api/v1/auth/token", "/api/v1/auth/link", "/api/v1/auth/logout"):
            return self.login
        if path.startswith("/twilio/"):
            return self.twilio
        return self.default


class BodyTooLarge(Exception):
    pass


def problem(status: int, title: str, detail: str, field: str | None = None,
            **extra: Any) -> tuple[int, bytes]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail, "code": problem_code(title)}
    if field:
        body["field"] = field
    body.update(extra)
    return status, json.dumps(body, ensure_ascii=False).encode()


async def send_problem(send: Send, status: int, body: bytes,
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def refused(exc: InputRefused) -> tuple[int, bytes]:
    return problem(422, "Invalid request", f"{exc.field}: {exc.message}", exc.field,
                   errors=[{"field": exc.field, "message": exc.message}])


class RequestGuard:
    """The middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, *, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            if "\x00" in scope["path"]:
                raise InputRefused("path", "NUL character in the path")
            check_query(scope.get("query_string", b""))
        except InputRefused as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await send_problem(send, *refused(exc))
            return
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        await self._write(scope, receive, send)

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        headers = dict(scope["headers"])
        limit = self.limits.for_path(path)
        raw_length = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        length = 0
        if raw_length is not None:
            if not raw_length.strip().isdigit():
                await send_problem(send, *problem(400, "Bad Content-Length",
                                                  "Content-Length is a byte count",
                                                  "Content-Length"))
                return
            length = int(raw_length)
        anonymous = _anonymous(path, headers) if (length or chunked) else None
        if anonymous is not None:  # credentials first: an anonymous caller learns nothing more
            status, body, extra = anonymous
            await send_problem(send, status, body, headers=extra)
            return
        if length > limit:
            await send_problem(send, *_too_large(limit))
            return
        try:
            body = await _read(receive, limit)
        except BodyTooLarge:
            await send_problem(send, *_too_large(limit))
            return
        try:
            _screen(headers.get(b"content-type", b""), body)
        except InputRefused as exc:
            await send_problem(send, *refused(exc))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> tuple[int, bytes]:
    return problem(413, "Request body too large",
                   f"this route accepts at most {limit} bytes", "body", limit_bytes=limit)


def _anonymous(path: str, headers: dict[bytes, bytes]
               ) -> tuple[int, bytes, list[tuple[bytes, bytes]]] | None:
    """The 401 for a request that carries no credentials at all for its route (answered
    before its body is read), or None."""
    if path in DEVICE_PATHS:  # the signature headers must at least be there
        for name in ("X-Device-Id", "X-Timestamp", "X-Signature"):
            if not headers.get(name.lower().encode()):
                return (*problem(401, "Missing signature header", f"send the {name} header",
                                 name),
                        [(b"www-authenticate", b'HMAC-SHA256 realm="devices"')])
        return None
    if path.startswith(OPEN_PATHS):
        return None
    if b"authorization" in headers or COOKIE in headers.get(b"cookie", b""):
        return None
    return (*problem(401, "Not authenticated", "send a bearer token"),
            [(b"www-authenticate", b"Bearer")])


async def _read(receive: Receive, limit: int) -> bytes:
    """The whole body, counting as it arrives; ``BodyTooLarge`` past ``limit``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _screen(content_type: bytes, body: bytes) -> None:
    kind = content_type.split(b";")[0].strip().lower()
    if not body:
        return
    if kind == b"application/json" or kind.endswith(b"+json"):
        try:
            parse_json(body)
        except InputRefused:
            raise
        except ValueError:
            return  # malformed JSON: the route's parser answers it (field ``body``)
    elif kind == b"application/x-www-form-urlencoded":
        check_form(body)
