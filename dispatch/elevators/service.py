"""Finding elevators: by rescue code, registration code, or words of the address."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, joinedload

from dispatch.elevators.schemas import ElevatorOut, OrgRef
from dispatch.models import Elevator, Organization, Zone
from geo.coords import wgs84_to_bd09, wgs84_to_gcj02

LOOKUP_LIMIT = 20
_RESCUE_CODE = re.compile(r"^\d{5,7}$")
_REGISTER_CODE = re.compile(r"^\d{20}$")


def _with_refs(stmt: Select[tuple[Elevator]]) -> Select[tuple[Elevator]]:
    return stmt.options(
        joinedload(Elevator.zone), joinedload(Elevator.use_unit),
        joinedload(Elevator.maintenance_company), joinedload(Elevator.insurer),
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def lookup_elevators(session: Session, query: str, *, limit: int = LOOKUP_LIMIT) -> list[Elevator]:
    """Up to ``limit`` elevators matching ``query``.

    Exact codes win; otherwise every whitespace-separated word must occur in the address, so an
    operator can type "清徐 阳光小区" or "并州北路 12". Short district names ("小店") match too.
    """
    q = query.strip()
    if not q:
        return []
    if _RESCUE_CODE.match(q) or _REGISTER_CODE.match(q):
        hits = session.scalars(_with_refs(select(Elevator)).where(
            or_(Elevator.rescue_code == q, Elevator.register_code == q))).all()
        if hits:
            return list(hits)
    words = [w for w in re.split(r"[\s,，]+", q) if w][:6]
    conditions = [Elevator.address.like(f"%{_escape_like(w)}%", escape="\\") for w in words]
    stmt = (_with_refs(select(Elevator)).where(and_(*conditions))
            .order_by(Elevator.address, Elevator.id).limit(limit))
    return list(session.scalars(stmt).unique().all())


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
