"""``power_cut.detected``: an area power cut (many lifts of a zone losing mains together,
``telemetry.service.power_cuts``) is announced once to the partners of that zone. Power cuts
are derived from the alarm log, not stored; a periodic step of the job loop looks for new
ones, and the delivery id (a UUID derived from partner and cut) makes the announcement once."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dispatch.models import Zone
from dispatch.partners.models import Partner, PartnerDelivery
from dispatch.partners.outbox import envelope, iso, subscribed, visibility
from dispatch.scoping import Visibility
from dispatch.settings import Settings
from dispatch.uow import unit_of_work

EVENT = "power_cut.detected"
_NS = uuid.UUID("6f1c2a53-3b7e-4c1e-9d4a-5e0b7f2a9c11")
LOOKBACK = timedelta(hours=2)


def delivery_id(partner_id: int, cut_id: str) -> str:
    return str(uuid.uuid5(_NS, f"{partner_id}:{cut_id}"))


def announce_power_cuts(factory: sessionmaker[Session], *, settings: Settings,
                        now: datetime) -> int:
    """Write one row per (new power cut, partner of its zone); returns how many."""
    from dispatch.telemetry.service import power_cuts

    written = 0
    with unit_of_work(factory) as session:
        partners = list(session.scalars(select(Partner).where(Partner.enabled.is_(True))))
        if not partners:
            return 0
        cuts = power_cuts(session, Visibility.internal(), since=now - LOOKBACK,
                          settings=settings)
        codes = {z.id: z.code for z in session.scalars(select(Zone))} if cuts else {}
        for cut in cuts:
            for p in partners:
                if not (visibility(p).sees_zone(cut.zone_id) and subscribed(p, EVENT)):
                    continue
                did = delivery_id(p.id, cut.id)
                if session.scalar(select(PartnerDelivery.id).where(
                        PartnerDelivery.delivery_id == did)) is not None:
                    continue
                data: dict[str, Any] = {
                    "id": cut.id, "zone": {"code": codes.get(cut.zone_id), "name": cut.zone},
                    "started_at": iso(cut.started_at), "last_report_at": iso(cut.last_report_at),
                    "elevator_count": cut.elevator_count,
                    "active_incidents": cut.active_incidents,
                    "incident_ids": [i.id for i in cut.incidents]}
                session.add(PartnerDelivery(
                    partner_id=p.id, incident_id=None, event_type=EVENT,
                    payload=envelope(EVENT, did, cut.started_at, None, data),
                    delivery_id=did, seq=1, status="pending" if p.url else "feed", attempts=0,
                    next_at=now, created_at=now))
                written += 1
    return written
