"""``POST /api/v1/auth/link``: the crew page exchanges the link token of an offer SMS for a
session (same answer and HttpOnly cookie as ``/api/v1/auth/token``).

Issue 12: a link works once (its ``jti`` is recorded in ``crew_link_use``), only for the team
and assignment it names and only while that offer or job is open; the session lives no longer
than the link had left and ends when the assignment does (``dispatch.deps.session_problem``).

The session belongs to the team's crew account (``crew-<team code>``, role ``crew``), created on
first use with an unusable random password; crews only ever see their own team's jobs.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from dispatch.auth.links import LinkClaims, read_link_token
from dispatch.auth.passwords import hash_password
from dispatch.auth.router import TokenOut, start_session
from dispatch.deps import SessionDep, SettingsDep
from dispatch.errors import Problem
from dispatch.models import Assignment, Team, User, utcnow
from dispatch.scoping import CREW_VISIBLE_ASSIGNMENTS, Visibility
from dispatch.security.models import CrewLinkUse

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LinkIn(BaseModel):
    model_config = {"extra": "forbid"}
    token: str = Field(min_length=10, max_length=2000)


async def valid_link(body: LinkIn, request: Request) -> LinkClaims:
    """Access rule ``crew-link``: the body's token must be a valid, unexpired crew link."""
    claims = read_link_token(body.token, secret=request.app.state.secret_key)
    if claims is None:
        raise Problem(401, "Invalid or expired link", "ask the centre to send the offer again",
                      field="token")
    return claims


valid_link.__access_roles__ = ("crew-link",)  # type: ignore[attr-defined]


def crew_account(session: Session, team: Team) -> User:
    """The team's crew user, created on first use (a concurrent first use inserts nothing)."""
    username = f"crew-{team.code}"[:64]
    user = session.scalar(select(User).where(User.username == username))
    if user is not None:
        return user
    values = dict(username=username, role="crew", display_name=team.name, team_id=team.id,
                  organization_id=team.organization_id, lang=team.lang, active=True,
                  password_hash=hash_password(secrets.token_urlsafe(32)), created_at=utcnow())
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(User).values(**values)
                    .on_conflict_do_nothing(index_elements=["username"]))
    user = session.scalar(select(User).where(User.username == username))
    assert user is not None
    return user


@router.post("/link", response_model=TokenOut)
def login_by_link(claims: Annotated[LinkClaims, Depends(valid_link)], request: Request,
                  response: Response, session: SessionDep, settings: SettingsDep) -> TokenOut:
    team = session.get(Team, claims.team_id)
    if team is None:
        raise Problem(401, "Invalid or expired link", "the team no longer exists",
                      field="token")
    if claims.jti is None or claims.assignment_id is None:
        raise Problem(401, "Invalid or expired link", "the link names no assignment",
                      field="token")
    assignment = session.get(Assignment, claims.assignment_id)
    if (assignment is None or assignment.team_id != team.id
            or assignment.state not in CREW_VISIBLE_ASSIGNMENTS):
        raise Problem(401, "Link no longer valid", "the offer or job of this link has ended",
                      field="token")
    _use_once(session, claims.jti, team.id, assignment.id)
    user = crew_account(session, team)
    if not user.active or not Visibility.for_user(user).may_act_on_team(team.id):
        raise Problem(403, "Crew account disabled", field="token")
    left = int((claims.expires_at - datetime.now(UTC)).total_seconds())
    if left <= 0:
        raise Problem(401, "Invalid or expired link", field="token")
    return start_session(request, response, user, settings, ttl_s=left,
                         extra={"asg": assignment.id})


def _use_once(session: Session, jti: str, team_id: int, assignment_id: int) -> None:
    """Record the link as used; a second use (even a concurrent one) is refused."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    done = session.execute(insert(CrewLinkUse).values(
        jti=jti, team_id=team_id, assignment_id=assignment_id, used_at=utcnow())
        .on_conflict_do_nothing(index_elements=["jti"]).returning(CrewLinkUse.jti)).first()
    if done is None:
        raise Problem(401, "Link already used", "each link signs in once; ask the centre "
                      "to send the offer again", field="token")
