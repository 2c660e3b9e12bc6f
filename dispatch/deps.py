"""Named dependencies: a route's signature says what it touches and who may call it.

Every route declares its access with one of the role dependencies below (or ``Public``); a test
walks the app and fails on a route that declares none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Request, WebSocket, WebSocketException
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.auth.tokens import read_token, session_user_id
from dispatch.errors import Problem
from dispatch.models import Assignment, User
from dispatch.routing import router_for
from dispatch.scoping import CREW_VISIBLE_ASSIGNMENTS, Visibility
from dispatch.settings import Settings
from dispatch.uow import unit_of_work
from geo.router import Router

ROLES = ("operator", "supervisor", "crew", "office", "admin")
COOKIE_NAME = "rescue_token"

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed after the route function returns (before the
    response is sent, so a failed commit is still answered as an error), rolled back if it
    raised."""
    with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


async def get_now() -> datetime:
    """The clock; tests override this dependency to control time.

    Dependencies that do no blocking I/O are ``async`` so FastAPI need not hop to a thread.
    """
    return datetime.now(UTC)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
Now = Annotated[datetime, Depends(get_now)]


def _token_from(request: Request, bearer: str | None) -> str | None:
    """Bearer header or the pages' cookie; ``?token=`` only on the websocket (issue 12: query
    strings end up in logs and browser history)."""
    if bearer:
        return bearer
    return request.cookies.get(COOKIE_NAME)


def session_problem(user: User | None, claims: dict[str, Any], session: Session) -> str | None:
    """Why a session token's user may not go on (None: it may): unknown or disabled user, a
    token issued before the last logout or password change, or a crew-link session whose
    assignment has ended."""
    if user is None or not user.active:
        return "Unknown or disabled user"
    if claims.get("ver", 0) != user.token_version:
        return "Token revoked"
    asg = claims.get("asg")
    if asg is not None:
        state = session.scalar(select(Assignment.state).where(Assignment.id == asg))
        if state not in CREW_VISIBLE_ASSIGNMENTS:
            return "Crew link session ended"
    return None


def current_user(request: Request, session: SessionDep,
                 bearer: Annotated[str | None, Depends(_bearer)]) -> User:
    token = _token_from(request, bearer)
    if not token:
        raise Problem(401, "Not authenticated", "send a bearer token",
                      headers={"WWW-Authenticate": "Bearer"})
    claims = read_token(token, secret=request.app.state.secret_key)
    user_id = session_user_id(claims)
    if claims is None or user_id is None:
        raise Problem(401, "Invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
    user = session.get(User, user_id)
    why = session_problem(user, claims, session)
    if why is not None or user is None:
        raise Problem(401, why or "Unknown or disabled user",
                      headers={"WWW-Authenticate": "Bearer"})
    return user


def require_roles(*roles: str) -> Callable[..., Any]:
    """A dependency admitting only users whose role is in ``roles`` (403 otherwise)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def dependency(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise Problem(403, "Forbidden",
                          f"role {user.role!r} may not do this; allowed: {', '.join(roles)}")
        return user

    dependency.__access_roles__ = roles  # type: ignore[attr-defined]
    return dependency


async def public() -> None:
    """Marks a route as open to anyone (login, health, docs)."""


public.__access_roles__ = ("public",)  # type: ignore[attr-defined]


def access_rule(dep: Any) -> tuple[str, ...] | None:
    return getattr(dep, "__access_roles__", None)


def viewer(user: Annotated[User, Depends(current_user)], session: SessionDep) -> Visibility:
    """What the signed-in user may see and act on (``dispatch.scoping``); carries no access
    rule itself: the route's role dependency says who may call it."""
    return Visibility.for_user(user, session)


ViewerDep = Annotated[Visibility, Depends(viewer)]


def get_router(settings: SettingsDep) -> Router:
    return router_for(settings)


RouterDep = Annotated[Router, Depends(get_router)]

Operator = Annotated[User, Depends(require_roles("operator", "supervisor"))]
Staff = Annotated[User, Depends(require_roles("operator", "supervisor", "office", "admin"))]
Admin = Annotated[User, Depends(require_roles("admin"))]
AnyUser = Annotated[User, Depends(require_roles(*ROLES))]
Public = Depends(public)


class StreamIdentity(NamedTuple):
    """Who a websocket belongs to: what it may receive, and the language of its page."""

    viewer: Visibility
    lang: str


def require_ws_roles(*roles: str) -> Callable[..., Any]:
    """The websocket form of ``require_roles``: the token comes from ``?token=`` or the
    ``rescue_token`` cookie (browsers cannot set headers on a websocket); a bad token closes
    the handshake with 1008 (policy violation). The user is read in a short session of its own,
    so a long-lived socket holds no database connection."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def dependency(websocket: WebSocket) -> StreamIdentity:
        token = (websocket.query_params.get("token") or websocket.cookies.get(COOKIE_NAME)
                 or _ws_bearer(websocket))
        claims = read_token(token, secret=websocket.app.state.secret_key) if token else None
        user_id = session_user_id(claims)
        if claims is None or user_id is None:
            raise WebSocketException(code=1008, reason="not authenticated")
        with websocket.app.state.sessionmaker() as session:
            user = session.get(User, user_id)
            why = session_problem(user, claims, session)
            if why is not None or user is None:
                raise WebSocketException(code=1008, reason=(why or "unknown user").lower())
            if user.role not in roles:
                raise WebSocketException(code=1008, reason=f"role {user.role} may not do this")
            return StreamIdentity(Visibility.for_user(user, session), user.lang)

    dependency.__access_roles__ = roles  # type: ignore[attr-defined]
    return dependency


def _ws_bearer(websocket: WebSocket) -> str | None:
    auth = websocket.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


StreamUser = Annotated[StreamIdentity, Depends(require_ws_roles(*ROLES))]
