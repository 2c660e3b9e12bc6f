"""What the current request is, for log lines and problem+json bodies.

A context variable holds one mutable ``RequestInfo`` per request: FastAPI runs sync routes and
dependencies in worker threads with a *copy* of the context, so a value set there would not come
back, but fields set on the shared object do.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass
class RequestInfo:
    request_id: str
    method: str = ""
    route: str = ""
    user_id: int | None = None
    role: str | None = None
    incident_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RequestInfo | None] = ContextVar("rescue_request", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's id when it is a sane token (a proxy's or a client's), else a fresh one.

    A caller-chosen id is echoed into logs, so anything that could smuggle text is replaced."""
    if header and _VALID_ID.match(header):
        return header
    return uuid.uuid4().hex


def begin(info: RequestInfo) -> object:
    return _current.set(info)


def end(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def current() -> RequestInfo | None:
    return _current.get()


def current_request_id() -> str | None:
    info = _current.get()
    return info.request_id if info else None


def note(**fields: Any) -> None:
    """Attach facts to the current request's log line (e.g. ``incident_id`` of a new one)."""
    info = _current.get()
    if info is None:
        return
    for key, value in fields.items():
        if hasattr(info, key) and key != "extra":
            setattr(info, key, value)
        else:
            info.extra[key] = value
