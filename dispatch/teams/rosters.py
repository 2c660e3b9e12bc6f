"""Rosters through the durable job loop: one ``roster_boundary`` row per rostered team.

At a team's next boundary the job puts the team on or off duty as the roster says (source
``roster``) and schedules the boundary after it. Nothing else watches the clock, so a manual
change (crew or supervisor) holds until that next boundary, which applies the roster again.
A team with a job in hand is not sent off duty mid-rescue: the boundary is retried a few
minutes later until the job is over.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatch import timers
from dispatch.dispatching.service import DispatchContext
from dispatch.events import Actor
from dispatch.models import ScheduledTask, Team
from dispatch.registry.roster import RosterError, next_boundary, on_roster, parse_roster
from dispatch.settings import Settings
from dispatch.teams.duty import open_job, set_duty
from dispatch.uow import unit_of_work

KIND = "roster_boundary"
RETRY_WHILE_BUSY = timedelta(minutes=5)


def _next_utc(roster_text: str, now: datetime, tz: str) -> datetime | None:
    local = now.astimezone(ZoneInfo(tz))
    nxt = next_boundary(parse_roster(roster_text), local)
    return None if nxt is None else nxt.astimezone(UTC)


def reschedule_roster(session: Session, team: Team, *, now: datetime, tz: str,
                      apply_now: bool = False) -> ScheduledTask | None:
    """(Re)plan ``team``'s roster after its roster changed (the importer and admin edits call
    this in their transaction): pending boundaries are cancelled and one row is scheduled —
    at ``now`` with ``apply_now`` (the new roster takes effect at once), else at the next
    boundary. No roster, a retired team, or a roster that never changes: nothing pending."""
    session.flush()  # sessions do not autoflush: the cancel must see rows added before
    timers.cancel(session, team_id=team.id, kinds=[KIND], now=now, why="roster changed")
    if team.roster is None or team.retired:
        return None
    due = now if apply_now else _next_utc(team.roster, now, tz)
    if due is None:
        return None
    task = timers.schedule(session, KIND, due, team_id=team.id)
    session.flush()
    return task


def ensure_roster_boundaries(session: Session, *, now: datetime, tz: str) -> int:
    """At start-up: every rostered, active team without a pending boundary gets its next one
    (teams loaded by a path that did not plan them). Returns how many were scheduled.

    A team's current duty is not touched here: a manual change holds until the boundary."""
    pending = select(ScheduledTask.team_id).where(ScheduledTask.kind == KIND,
                                                  ScheduledTask.status == "pending",
                                                  ScheduledTask.team_id.is_not(None))
    teams = session.scalars(select(Team).where(
        Team.roster.is_not(None), Team.retired.is_(False), Team.id.not_in(pending))).all()
    scheduled = 0
    for team in teams:
        try:
            if reschedule_roster(session, team, now=now, tz=tz) is not None:
                scheduled += 1
        except RosterError:
            continue  # the importer validates rosters; a bad one is shown on the team panel
    return scheduled


def apply_roster(session: Session, team: Team, *, now: datetime, tz: str,
                 actor: Actor) -> str:
    """What the boundary job does for one team (locked by the caller); returns its result."""
    if team.roster is None or team.retired:
        return "no roster"
    try:
        roster = parse_roster(team.roster)
    except RosterError as exc:
        return f"bad roster: {exc}"
    local = now.astimezone(ZoneInfo(tz))
    wanted = on_roster(roster, local)
    result = "unchanged"
    if wanted != team.on_duty:
        job = None if wanted else open_job(session, team.id)
        if job is not None:
            timers.schedule(session, KIND, now + RETRY_WHILE_BUSY, team_id=team.id)
            return f"deferred: assignment {job.id} open"
        set_duty(session, team, on_duty=wanted, actor=actor, source="roster",
                 reason=f"roster {roster.text}", at=now)
        result = "on duty" if wanted else "off duty"
    nxt = next_boundary(roster, local)
    if nxt is not None:
        timers.schedule(session, KIND, nxt.astimezone(UTC), team_id=team.id)
    return result


def on_roster_boundary(session: Session, task: ScheduledTask, ctx: DispatchContext) -> str:
    """The job-loop handler for ``roster_boundary`` rows."""
    if task.team_id is None:
        return "no team"
    team = session.get(Team, task.team_id, with_for_update=True)
    if team is None:
        return "no team"
    return apply_roster(session, team, now=ctx.now, tz=ctx.settings.timezone, actor=ctx.actor)


def ensure_at_startup(factory: sessionmaker[Session], settings: Settings) -> int:
    """Plan missing roster boundaries when the job loop starts."""
    with unit_of_work(factory) as session:
        return ensure_roster_boundaries(session, now=datetime.now(UTC), tz=settings.timezone)
