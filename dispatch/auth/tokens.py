"""Signed access tokens (JWT, HS256) carrying the user id and role."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"


def issue_token(*, secret: str, user_id: int, role: str, now: datetime, ttl_min: float,
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


def session_user_id(claims: dict[str, Any] | None) -> int | None:
    """The user id of a valid session token's claims; None for any other token (another
    scope, a missing or non-numeric ``sub``, an id no column can hold)."""
    if claims is None or claims.get("scope") != "session":
        return None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isascii() or not sub.isdigit():
        return None
    user_id = int(sub)
    return user_id if 0 < user_id <= 2**31 - 1 else None
