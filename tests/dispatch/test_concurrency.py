"""Two incidents at once can never book one team (conditional update), on both backends."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatch import lifecycle
from dispatch.dispatching.service import DispatchContext, dispatch_incident, load_for_dispatch
from dispatch.events import Actor
from dispatch.incidents.schemas import IncidentCreate
from dispatch.incidents.service import create_incident
from dispatch.models import Assignment
from dispatch.routing import router_for
from dispatch.settings import Settings
from tests import factories
from tests.dispatch import scenario

ROUNDS = 6
INCIDENTS = 8
TEAMS = 3


def _round(db: sessionmaker[Session], settings: Settings, r: int) -> tuple[int, Counter[int]]:
    now = datetime(2026, 11, 30, 9, r, tzinfo=UTC)
    with db() as s:
        company = factories.make_org(s)
        for i in range(TEAMS):
            factories.make_team(s, organization=company, base_location=scenario.AT_2KM,
                                code=f"R{r}T{i}")
        ids = []
        for i in range(INCIDENTS):
            e = factories.make_elevator(s, rescue_code=f"7{r}{i:04d}",
                                        location=scenario.ELEVATOR_AT,
                                        maintenance_company_id=company.id)
            inc, _ = create_incident(s, data=IncidentCreate(elevator_id=e.id, channel="call"),
                                     actor=Actor("op"), user_id=None, now=now,
                                     settings=settings)
            ids.append(inc.id)
        s.commit()
    router = router_for(settings)
    barrier = threading.Barrier(INCIDENTS)
    errors: list[BaseException] = []

    def work(incident_id: int) -> None:
        try:
            with db() as s:
                barrier.wait()
                incident = load_for_dispatch(s, incident_id)
                ctx = DispatchContext(settings=settings, router=router, now=now,
                                      actor=Actor("op"))
                dispatch_incident(s, incident, ctx=ctx)
                s.commit()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with db() as s:
        rows = s.execute(select(Assignment.team_id, Assignment.incident_id)
                         .where(Assignment.incident_id.in_(ids),
                                Assignment.state == lifecycle.OFFERED)).all()
    return len(rows), Counter(team for team, _ in rows)


def test_concurrent_dispatches_never_double_book(db: sessionmaker[Session],
                                                 settings: Settings) -> None:
    for r in range(ROUNDS):
        offered, per_team = _round(db, settings, r)
        assert offered == TEAMS, f"round {r}: {offered} offers for {TEAMS} teams"
        assert max(per_team.values()) == 1, f"round {r}: a team booked twice {per_team}"


def test_a_write_based_on_a_stale_read_is_refused(db: sessionmaker[Session],
                                                  settings: Settings) -> None:
    """SQLite has no SELECT … FOR UPDATE: the version column stops lost updates there too."""
    import pytest
    from sqlalchemy.orm.exc import StaleDataError

    from dispatch.models import Incident

    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    with db() as s:
        e = factories.make_elevator(s)
        inc, _ = create_incident(s, data=IncidentCreate(elevator_id=e.id, channel="call"),
                                 actor=Actor("op"), user_id=None, now=now, settings=settings)
        s.commit()
        incident_id = inc.id
    with db() as first, db() as second:
        a = first.get(Incident, incident_id)
        b = second.get(Incident, incident_id)
        a.state = lifecycle.CONFIRMED
        first.commit()
        b.state = lifecycle.CANCELLED
        with pytest.raises(StaleDataError):
            second.commit()
    with db() as s:
        assert s.get(Incident, incident_id).state == lifecycle.CONFIRMED
