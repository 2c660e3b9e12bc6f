"""Login: OAuth2 password form → JWT (also set as an HttpOnly cookie for the web pages).

Issue 12: logins are throttled per username and per client address (``dispatch.security.
throttle``), every attempt is kept in the ``login_attempt`` audit table (admins read the failed
ones), passwords are checked on a small pool of their own, and a session carries the user's
token version, so logout and a password change revoke every earlier token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from dispatch.auth.passwords import check_password, hash_password
from dispatch.auth.tokens import issue_token, read_token, session_user_id
from dispatch.deps import (
    COOKIE_NAME,
    Admin,
    AnyUser,
    Now,
    Public,
    SessionDep,
    SettingsDep,
    ViewerDep,
    session_problem,
)
from dispatch.errors import Problem
from dispatch.models import User
from dispatch.security import throttle
from dispatch.security.models import LoginAttempt
from dispatch.settings import Settings
from dispatch.uow import unit_of_work

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    username: str
    expires_in: int


class MeOut(BaseModel):
    id: int
    username: str
    role: str
    display_name: str
    team_id: int | None
    organization_id: int | None
    region: str | None
    """An office user's zone (name), if it is limited to one."""
    region_zone_id: int | None
    lang: str
    read_only: bool


class PasswordIn(BaseModel):
    model_config = {"extra": "forbid"}
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=8, max_length=200)


class LoginAttemptOut(BaseModel):
    username: str
    address: str
    at: datetime
    outcome: str


@dataclass(frozen=True, slots=True)
class _Found:
    retry_after_s: int | None
    user_id: int | None = None
    password_hash: str | None = None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _wrong() -> Problem:
    return Problem(401, "Wrong username or password", field="password",
                   headers={"WWW-Authenticate": "Bearer"})


def _look_up(factory: Any, *, username: str, address: str, now: datetime,
             settings: Settings) -> _Found:
    with unit_of_work(factory) as session:
        wait = throttle.retry_after_s(session, username=username, address=address, now=now,
                                      settings=settings)
        if wait is not None:
            throttle.record(session, username=username, address=address, at=now,
                            outcome=throttle.THROTTLED)
            return _Found(wait)
        user = session.scalar(select(User).where(User.username == username))
        if user is None or not user.active:
            return _Found(None)
        return _Found(None, user.id, user.password_hash)


def _finish(factory: Any, request: Request, response: Response, *, found: _Found, ok: bool,
            username: str, address: str, now: datetime, settings: Settings) -> TokenOut | None:
    with unit_of_work(factory) as session:
        throttle.record(session, username=username, address=address, at=now,
                        outcome=throttle.OK if ok else throttle.FAILED)
        user = session.get(User, found.user_id) if ok and found.user_id else None
        if user is None:
            return None
        return start_session(request, response, user, settings)


@router.post("/token", response_model=TokenOut, dependencies=[Public])
async def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    settings: SettingsDep,
    now: Now,
) -> TokenOut:
    """Exchange a username and password for a session token.

    After ``RESCUE_LOGIN_MAX_FAILURES`` failures for a username (or
    ``RESCUE_LOGIN_MAX_FAILURES_PER_ADDRESS`` from one address) within
    ``RESCUE_LOGIN_LOCKOUT_MIN`` minutes: 429 with ``Retry-After``. Database work runs on the
    request threads in two short units of work; the password check on its own small pool, with
    no connection held."""
    factory = request.app.state.sessionmaker
    username, address = form.username[:64], client_address(request)
    found = await run_in_threadpool(_look_up, factory, username=username, address=address,
                                    now=now, settings=settings)
    if found.retry_after_s is not None:
        raise Problem(429, "Too many failed logins",
                      f"try again in {found.retry_after_s} s", field="username",
                      headers={"Retry-After": str(found.retry_after_s)},
                      retry_after_s=found.retry_after_s)
    ok = await check_password(found.password_hash, form.password,
                              workers=settings.password_hash_workers)
    out = await run_in_threadpool(_finish, factory, request, response, found=found, ok=ok,
                                  username=username, address=address, now=now,
                                  settings=settings)
    if out is None:
        raise _wrong()
    return out


def cookie_secure(settings: Settings) -> bool:
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return settings.public_base_url.lower().startswith("https://")


def start_session(request: Request, response: Response, user: User,
                  settings: Settings, *, ttl_s: int | None = None,
                  extra: dict[str, Any] | None = None) -> TokenOut:
    """Issue a session token for ``user`` and set it as the HttpOnly cookie of the web pages.

    The token carries the user's token version (revocation) and any ``extra`` claims; ``ttl_s``
    shortens it below ``RESCUE_TOKEN_TTL_MIN`` (a crew link's remaining life). Tokens use the
    wall clock, not the injectable domain clock: their expiry is checked against real time."""
    ttl = settings.token_ttl_min * 60 if ttl_s is None else min(ttl_s, settings.token_ttl_min * 60)
    claims = {"ver": user.token_version, **(extra or {})}
    token = issue_token(secret=request.app.state.secret_key, user_id=user.id, role=user.role,
                        now=datetime.now(UTC), ttl_min=ttl / 60, extra=claims)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict",
                        secure=cookie_secure(settings), max_age=ttl, path="/")
    return TokenOut(access_token=token, role=user.role, username=user.username,
                    expires_in=ttl)


def _revoke(session: Session, user: User) -> None:
    user.token_version += 1


@router.post("/logout", status_code=204, dependencies=[Public])
def logout(request: Request, response: Response, session: SessionDep) -> Response:
    """End the session: the cookie is cleared and, when the request carries a valid session
    token (cookie or bearer), every token of that user issued so far stops working."""
    auth = request.headers.get("authorization", "")
    token = auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get(COOKIE_NAME)
    claims = read_token(token, secret=request.app.state.secret_key) if token else None
    user_id = session_user_id(claims)
    if claims is not None and user_id is not None:
        user = session.get(User, user_id)
        if user is not None and session_problem(user, claims, session) is None:
            _revoke(session, user)
    response.delete_cookie(COOKIE_NAME, path="/")
    response.status_code = 204
    return response


@router.post("/password", response_model=TokenOut)
async def change_password(body: PasswordIn, user: AnyUser, request: Request,
                          response: Response, settings: SettingsDep) -> TokenOut:
    """Change one's own password: every earlier session token is revoked; the answer is a new
    session (and cookie)."""
    ok = await check_password(user.password_hash, body.current_password,
                              workers=settings.password_hash_workers)
    if not ok:
        raise Problem(403, "Wrong current password", field="current_password")
    new_hash = await run_in_threadpool(hash_password, body.new_password)

    def store() -> TokenOut:
        with unit_of_work(request.app.state.sessionmaker) as session:
            fresh = session.get(User, user.id)
            assert fresh is not None
            fresh.password_hash = new_hash
            _revoke(session, fresh)
            session.flush()
            return start_session(request, response, fresh, settings)

    return await run_in_threadpool(store)


@router.get("/failed-logins", response_model=list[LoginAttemptOut])
def failed_logins(_: Admin, session: SessionDep,
                  username: Annotated[str | None, Query(max_length=64)] = None,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[LoginAttemptOut]:
    """Failed and throttled logins, newest first (the audit of issue 12)."""
    stmt = select(LoginAttempt).where(LoginAttempt.outcome != throttle.OK)
    if username is not None:
        stmt = stmt.where(LoginAttempt.username == username)
    rows = session.scalars(stmt.order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
                           .limit(limit))
    return [LoginAttemptOut(username=r.username, address=r.address, at=r.at, outcome=r.outcome)
            for r in rows]


@router.get("/me", response_model=MeOut)
def me(user: AnyUser, viewer: ViewerDep) -> MeOut:
    return MeOut(id=user.id, username=user.username, role=user.role,
                 display_name=user.display_name, team_id=user.team_id,
                 organization_id=user.organization_id, region=viewer.region_name,
                 region_zone_id=viewer.region_zone_id, lang=user.lang,
                 read_only=viewer.read_only)
