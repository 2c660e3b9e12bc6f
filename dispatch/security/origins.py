"""Cross-site request forgery: browsers attach the session cookie to requests any site makes,
so a write that is authenticated by the cookie alone, and the websocket handshake, must come
from one of our own origins.

Allowed: the origin of ``RESCUE_PUBLIC_BASE_URL``, ``RESCUE_ALLOWED_ORIGINS``, and the origin of
the request's own ``Host`` (a page served by this server; a foreign page cannot choose the Host
its browser sends to us). Requests with a bearer header are not affected (a foreign page cannot
set one), nor are requests without an ``Origin`` (not sent by browsers for these cases; then
``Referer`` is checked if present).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from dispatch.security.limits import (
    COOKIE,
    WRITE_METHODS,
    ASGIApp,
    Receive,
    Scope,
    Send,
    problem,
    send_problem,
)


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower-case; None if it has none."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def allowed_origins(public_base_url: str, extra: Iterable[str]) -> frozenset[str]:
    return frozenset(o for o in (origin_of(u) for u in (public_base_url, *extra)) if o)


class OriginCheck:
    """ASGI middleware: 403 problem+json for a cookie-only write from a foreign origin, and a
    refused handshake (403) for a websocket opened from one."""

    def __init__(self, app: ASGIApp, *, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    def _foreign(self, headers: dict[bytes, bytes], scheme: str) -> str | None:
        """The foreign origin of this request, or None when it is ours or not given."""
        raw = headers.get(b"origin") or headers.get(b"referer")
        if not raw:
            return None
        given = origin_of(raw.decode("latin-1"))
        if given is None:
            return raw.decode("latin-1")[:200]
        host = headers.get(b"host", b"").decode("latin-1").lower()
        own = {f"{s}://{host}" for s in ("http", "https")} if host else set()
        return None if given in self.allowed or given in own else given

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            headers = dict(scope["headers"])
            foreign = self._foreign(headers, "ws")
            if foreign is not None:
                await send({"type": "websocket.close", "code": 1008,
                            "reason": "origin not allowed"})
                return
        elif scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            headers = dict(scope["headers"])
            cookie_only = (COOKIE in headers.get(b"cookie", b"")
                           and b"authorization" not in headers)
            foreign = self._foreign(headers, "http") if cookie_only else None
            if foreign is not None:
                await send_problem(send, *problem(
                    403, "Origin not allowed",
                    f"a cookie-authenticated write from {foreign} is refused (cross-site "
                    "request); send a bearer token or use this server's own pages",
                    "Origin"))
                return
        await self.app(scope, receive, send)
