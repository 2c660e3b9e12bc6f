"""Signed short-lived crew links: ``/crew?t=<token>`` in an offer SMS logs the team in.

The token is a JWT signed with the application secret, scope ``crew-link``, naming the team and
the assignment it was sent for. It is only good for exchanging into a crew session
(``POST /api/v1/auth/link``) within its lifetime; it never authorises a request by itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import jwt

from dispatch.auth.tokens import ALGORITHM

SCOPE = "crew-link"


@dataclass(frozen=True, slots=True)
class LinkClaims:
    team_id: int
    assignment_id: int | None
    expires_at: datetime
    jti: str | None = None
    """The link's id: a used link is recorded under it and refused the next time."""


def issue_link_token(*, secret: str, team_id: int, assignment_id: int | None, now: datetime,
                     ttl_min: int) -> str:
    claims: dict[str, Any] = {"scope": SCOPE, "team": team_id, "iat": int(now.timestamp()),
                              "jti": secrets.token_urlsafe(16),
                              "exp": int((now + timedelta(minutes=ttl_min)).timestamp())}
    if assignment_id is not None:
        claims["asg"] = assignment_id
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_link_token(token: str, *, secret: str) -> LinkClaims | None:
    """The claims of a valid, unexpired crew-link token; None for anything else (a session
    token, a tampered or expired one)."""
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM],
                            options={"require": ["exp", "scope", "team"]})
    except jwt.PyJWTError:
        return None
    if claims.get("scope") != SCOPE or not isinstance(claims.get("team"), int):
        return None
    asg = claims.get("asg")
    jti = claims.get("jti")
    return LinkClaims(claims["team"], asg if isinstance(asg, int) else None,
                      datetime.fromtimestamp(claims["exp"]).astimezone(),
                      jti if isinstance(jti, str) and 0 < len(jti) <= 64 else None)


def crew_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/crew?t={quote(token, safe='')}"
