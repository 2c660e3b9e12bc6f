"""One ASGI middleware per request: request id, timing, metrics and the request's log line.

Pure ASGI rather than ``BaseHTTPMiddleware``, so streamed bodies and websockets pass through
untouched. The route label is the matched route's *template* (``/api/v1/incidents/{incident_id}``)
read from the scope after routing; an unmatched path is ``unmatched``, so a scanner probing
random URLs cannot grow the metric series or the log vocabulary.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.auth.tokens import read_token
from dispatch.ops import context, metrics
from dispatch.routes import iter_routes

log = logging.getLogger("rescue.http")
ws_log = logging.getLogger("rescue.ws")
_SKIP_LOG = frozenset(("/healthz", "/readyz", "/metrics"))  # probes every few seconds


def route_template(scope: Scope) -> str:
    """FastAPI routes put themselves in ``scope["route"]``; plain Starlette routes and mounts
    (the pages, ``/static``) only leave their ``endpoint``, so those are looked up."""
    path = getattr(scope.get("route"), "path", None)
    if path is not None:
        return path
    endpoint = scope.get("endpoint")
    app = scope.get("app")
    if endpoint is None or app is None:
        return "unmatched"
    for route in iter_routes(getattr(app, "routes", ())):
        if isinstance(route, Mount) and route.app is endpoint:
            return f"{route.path}/{{path}}"
        if (getattr(route, "endpoint", None) is endpoint
                and route.path_regex.match(scope.get("path", ""))):
            return str(route.path)
    return "unmatched"


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def _token(scope: Scope) -> str | None:
    auth = _header(scope, b"authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:]
    cookie = _header(scope, b"cookie") or ""
    for part in cookie.split(";"):
        name, _, value = part.strip().partition("=")
        if name == "rescue_token" and value:
            return value
    return None


def _who(scope: Scope, info: context.RequestInfo) -> None:
    """User id and role from the session token's claims, when it is valid (the route's own
    dependency still decides access; this only labels the log line)."""
    app = scope.get("app")
    secret = getattr(getattr(app, "state", None), "secret_key", None)
    token = _token(scope)
    if not token or not secret:
        return
    claims = read_token(token, secret=secret)
    if claims and claims.get("scope") == "session":
        info.user_id = int(claims["sub"]) if str(claims.get("sub", "")).isdigit() else None
        info.role = claims.get("role")


class OpsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info = context.RequestInfo(
            request_id=context.request_id_from(_header(scope, b"x-request-id")),
            method=scope.get("method", "WS"))
        token = context.begin(info)
        scope.setdefault("state", {})["request_id"] = info.request_id
        started = time.perf_counter()
        status = 500
        rid = info.request_id.encode()

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid))
                message = {**message, "headers": headers}
            await send(message)

        try:
            if scope["type"] == "websocket":
                await self._websocket(scope, receive, send, info, started)
                return
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                self._finish(scope, info, status, time.perf_counter() - started)
        finally:
            context.end(token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send,
                         info: context.RequestInfo, started: float) -> None:
        closed: dict[str, Any] = {}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "websocket.close":
                closed["code"] = message.get("code", 1000)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            info.route = route_template(scope)
            _who(scope, info)
            ws_log.info("%s %s closed", "WS", info.route, extra={
                "request_id": info.request_id, "route": info.route,
                "close_code": closed.get("code"), "user_id": info.user_id, "role": info.role,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)})

    def _finish(self, scope: Scope, info: context.RequestInfo, status: int,
                elapsed: float) -> None:
        route = info.route or route_template(scope)
        method = info.method
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_SECONDS.labels(method, route, str(status)).observe(elapsed)
        metrics.sample_pool()
        if route in _SKIP_LOG and status < 400:
            return
        _who(scope, info)
        incident_id = info.incident_id
        if incident_id is None:
            raw = scope.get("path_params", {}).get("incident_id")
            incident_id = int(raw) if isinstance(raw, int | str) and str(raw).isdigit() else None
        level = logging.ERROR if status >= 500 else logging.INFO
        log.log(level, "%s %s %s", method, route, status, extra={
            "request_id": info.request_id, "route": route, "method": method, "status": status,
            "duration_ms": round(elapsed * 1000, 1), "user_id": info.user_id,
            "role": info.role, "incident_id": incident_id, **info.extra})
