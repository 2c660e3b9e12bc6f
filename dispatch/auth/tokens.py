"""Signed access tokens (JWT, HS256) carrying the user id and role."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"


def issue_token(*, secret: str, user_id: int, role: str, now: datetime, ttl_min: int,
                scope: str = "session", extra: dict[str, Any] | None = None) -> str:
    claims: dict[str, Any] = {
        "sub": str(user_id), "role": role, "scope": scope,
        "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=ttl_min)).timestamp()),
    }
    if extra:
        claims.update(extra)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(token: str, *, secret: str) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token; None otherwise."""
    try:
        return jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.PyJWTError:
        return None
