"""Finding elevators: by rescue code, registration code, or words of the address."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, joinedload

from dispatch.elevators import caller, search
from dispatch.elevators.schemas import ElevatorOut, OrgRef
from dispatch.models import Elevator, Organization, Zone
from geo.coords import wgs84_to_bd09, wgs84_to_gcj02

LOOKUP_LIMIT = 20
_RESCUE_CODE = re.compile(r"^\d{5,7}$")
_REGISTER_CODE = re.compile(r"^\d{20}$")


def _with_refs(stmt: Select[Elevator]) -> Select[Elevator]:
    return stmt.options(
        joinedload(Elevator.zone), joinedload(Elevator.use_unit),
        joinedload(Elevator.maintenance_company), joinedload(Elevator.insurer),
    )


def lookup_elevators(session: Session, query: str, *, limit: int = LOOKUP_LIMIT,
                     scope: caller.Scope | None = None) -> list[Elevator]:
    """Up to ``limit`` elevators matching ``query``.

    Exact codes win; a query that is a phone number gives the elevators of that caller's past
    incidents (most recent first); otherwise every whitespace-separated word must occur in the
    address or the building, so an operator can type "清徐 阳光小区" or "并州北路 12". Short
    district names ("小店") match too. How that stays fast at 500,000 elevators, and what it
    answers for very broad queries, is in :mod:`dispatch.elevators.search`.
    """
    q = query.strip()
    if not q:
        return []
    if _RESCUE_CODE.match(q) or _REGISTER_CODE.match(q):
        hits = session.scalars(_with_refs(select(Elevator)).where(
            or_(Elevator.rescue_code == q, Elevator.register_code == q))).all()
        if hits:
            return list(hits)
    phone = caller.phone_or_none(q)
    if phone is not None:
        mine = elevators_of_caller(session, phone, limit=limit, scope=scope)
        if mine:
            return [e for e, _ in mine]
    return _by_ids(session, search.search_ids(session, search.split_words(q), limit=limit))


def get_elevators(session: Session, ids: Sequence[int]) -> list[Elevator]:
    """The elevators ``ids`` with their references (as ``get_elevator``), in one read."""
    return _by_ids(session, ids)


def _by_ids(session: Session, ids: Sequence[int]) -> list[Elevator]:
    """The elevators ``ids`` with their references, in the order given."""
    if not ids:
        return []
    by_id = {e.id: e for e in session.scalars(
        _with_refs(select(Elevator)).where(Elevator.id.in_(ids))).unique()}
    return [by_id[i] for i in ids if i in by_id]


def elevators_of_caller(session: Session, phone: str, *, limit: int = LOOKUP_LIMIT,
                        scope: caller.Scope | None = None
                        ) -> list[tuple[Elevator, caller.CallerHistory]]:
    """Elevators of the past incidents of ``phone`` (normalised), most recent first.

    ``scope`` limits the incidents read to what the viewer may see (the office's region).
    """
    history = caller.caller_history(session, phone, scope=scope, limit=limit)
    elevators = {e.id: e for e in _by_ids(session, [h.elevator_id for h in history])}
    return [(elevators[h.elevator_id], h) for h in history if h.elevator_id in elevators]


def find_by_rescue_code(session: Session, code: str) -> Elevator | None:
    return session.scalar(_with_refs(select(Elevator)).where(Elevator.rescue_code == code))


def get_elevator(session: Session, elevator_id: int) -> Elevator | None:
    return session.scalar(_with_refs(select(Elevator)).where(Elevator.id == elevator_id))


def near_rescue_codes(session: Session, code: str, *, limit: int = 5) -> list[str]:
    """Existing rescue codes one typo away (same length, one digit different or swapped ends)."""
    digits = re.sub(r"\D", "", code)
    if not digits:
        return []
    patterns = [digits[:i] + "_" + digits[i + 1:] for i in range(len(digits))]
    stmt = (select(Elevator.rescue_code)
            .where(or_(*[Elevator.rescue_code.like(p) for p in patterns]))
            .order_by(Elevator.rescue_code).limit(limit))
    return list(session.scalars(stmt).all())


def _org(org: Organization | None) -> OrgRef | None:
    if org is None:
        return None
    return OrgRef(id=org.id, name=org.name, phone=org.phone, kind=org.kind)


def _rounded(point: tuple[float, float]) -> tuple[float, float]:
    return round(float(point[0]), 6), round(float(point[1]), 6)


def elevator_out(e: Elevator) -> ElevatorOut:
    """The one serialiser of an elevator (lookup, incidents, the live board)."""
    zone: Zone = e.zone
    lon, lat = e.location.lon, e.location.lat
    return ElevatorOut(
        id=e.id, rescue_code=e.rescue_code, register_code=e.register_code, address=e.address,
        building=e.building, district=zone.name, zone_id=e.zone_id, lon=lon, lat=lat,
        floors=e.floors, gcj02=_rounded(wgs84_to_gcj02(lon, lat)),
        bd09=_rounded(wgs84_to_bd09(lon, lat)), site_type=e.site_type, three_no=e.three_no,
        in_service=e.in_service,
        use_unit=_org(e.use_unit), maintenance_company=_org(e.maintenance_company),
        insurer=_org(e.insurer),
    )


def elevators_out(rows: Sequence[Elevator]) -> list[ElevatorOut]:
    return [elevator_out(e) for e in rows]


def lookup_out(session: Session, rows: Sequence[Elevator]) -> list[ElevatorOut]:
    """Lookup results with what tells lifts at one address apart: their number there and the
    count (one query for all the addresses in the answer)."""
    addresses = {e.address for e in rows}
    numbering: dict[int, tuple[int, int]] = {}
    if addresses:
        peers: dict[str, list[int]] = {}
        for eid, address in session.execute(
                select(Elevator.id, Elevator.address).where(Elevator.address.in_(addresses))
                .order_by(Elevator.address, Elevator.register_code, Elevator.id)):
            peers.setdefault(address, []).append(eid)
        for ids in peers.values():
            for n, eid in enumerate(ids, start=1):
                numbering[eid] = (n, len(ids))
    out = []
    for e in rows:
        item = elevator_out(e)
        if e.id in numbering:
            item.lift_no, item.lifts_at_address = numbering[e.id]
        out.append(item)
    return out


def near_elevators(session: Session, code: str, *, limit: int = 5) -> list[Elevator]:
    """The elevators whose rescue codes are one typo away from ``code`` (for "did you mean")."""
    near = near_rescue_codes(session, code, limit=limit)
    if not near:
        return []
    return list(session.scalars(_with_refs(select(Elevator)).where(
        Elevator.rescue_code.in_(near)).order_by(Elevator.rescue_code)).unique())
