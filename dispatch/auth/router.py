"""Login: OAuth2 password form → JWT (also set as an HttpOnly cookie for the web pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel
from sqlalchemy import select

from dispatch.auth.passwords import verify_password
from dispatch.auth.tokens import issue_token
from dispatch.deps import COOKIE_NAME, AnyUser, Public, SessionDep, SettingsDep, ViewerDep
from dispatch.errors import Problem
from dispatch.models import User
from dispatch.settings import Settings

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


@router.post("/token", response_model=TokenOut, dependencies=[Public])
def login(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    """Exchange a username and password for a session token."""
    user = session.scalar(select(User).where(User.username == form.username))
    if user is None or not user.active or not verify_password(user.password_hash, form.password):
        raise Problem(401, "Wrong username or password", field="password",
                      headers={"WWW-Authenticate": "Bearer"})
    return start_session(request, response, user, settings)


def start_session(request: Request, response: Response, user: User,
                  settings: Settings) -> TokenOut:
    """Issue a session token for ``user`` and set it as the HttpOnly cookie of the web pages.

    Tokens use the wall clock, not the injectable domain clock: their expiry is checked
    against real time."""
    token = issue_token(secret=request.app.state.secret_key, user_id=user.id, role=user.role,
                        now=datetime.now(UTC), ttl_min=settings.token_ttl_min)
    response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict",
                        max_age=settings.token_ttl_min * 60, path="/")
    return TokenOut(access_token=token, role=user.role, username=user.username,
                    expires_in=settings.token_ttl_min * 60)


@router.post("/logout", status_code=204, dependencies=[Public])
def logout(response: Response) -> Response:
    response.delete_cookie(COOKIE_NAME, path="/")
    response.status_code = 204
    return response


@router.get("/me", response_model=MeOut)
def me(user: AnyUser, viewer: ViewerDep) -> MeOut:
    return MeOut(id=user.id, username=user.username, role=user.role,
                 display_name=user.display_name, team_id=user.team_id,
                 organization_id=user.organization_id, region=viewer.region_name,
                 region_zone_id=viewer.region_zone_id, lang=user.lang,
                 read_only=viewer.read_only)
