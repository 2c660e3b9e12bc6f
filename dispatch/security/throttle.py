"""Login throttling: failures per username and per client address within a window.

Counts rows of the ``login_attempt`` audit table (so all worker processes agree). A success for
a username ends that username's run of failures; an address counts its failures over any
usernames. Past the limit the caller gets 429 with ``Retry-After`` until the window after the
latest failure has passed; refused attempts are recorded as ``throttled`` but do not extend it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.security.models import LoginAttempt
from dispatch.settings import Settings

FAILED, THROTTLED, OK = "failed", "throttled", "ok"


def _run_of_failures(session: Session, column: object, value: str, *, since: datetime,
                     limit: int) -> list[datetime]:
    """Times of the latest consecutive failures (newest first, at most ``limit``)."""
    rows = session.execute(
        select(LoginAttempt.at, LoginAttempt.outcome)
        .where(column == value, LoginAttempt.at >= since,  # type: ignore[arg-type]
               LoginAttempt.outcome != THROTTLED)
        .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc()).limit(limit)).all()
    out = []
    for at, outcome in rows:
        if outcome != FAILED:
            break
        out.append(at)
    return out


def retry_after_s(session: Session, *, username: str, address: str, now: datetime,
                  settings: Settings) -> int | None:
    """Seconds until this username/address may try again; None when it may now."""
    window = timedelta(minutes=settings.login_lockout_min)
    since = now - window
    waits = []
    by_user = _run_of_failures(session, LoginAttempt.username, username, since=since,
                               limit=settings.login_max_failures)
    by_address = list(session.scalars(  # an address counts failures only, over any username
        select(LoginAttempt.at).where(LoginAttempt.address == address, LoginAttempt.at >= since,
                                      LoginAttempt.outcome == FAILED)
        .order_by(LoginAttempt.at.desc()).limit(settings.login_max_failures_per_address)))
    for failures, limit in ((by_user, settings.login_max_failures),
                            (by_address, settings.login_max_failures_per_address)):
        if len(failures) >= limit:
            waits.append((failures[0] + window - now).total_seconds())
    return max(1, math.ceil(max(waits))) if waits else None


def record(session: Session, *, username: str, address: str, at: datetime,
           outcome: str) -> None:
    session.add(LoginAttempt(username=username[:64], address=address[:64], at=at,
                             outcome=outcome))
