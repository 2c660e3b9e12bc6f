"""``GET /api/v1/reports/expired-maintenance``: lifts whose maintenance contract has ended.

Why the office review needs it: such a lift has no level-1 company (dispatch starts at level 2),
and the market-supervision office is who makes the use unit sign a new contract. Region-scoped
like the other report routes (``dispatch.reports.service.area``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from dispatch.deps import Now, SessionDep, SettingsDep, ViewerDep, require_roles
from dispatch.models import Elevator, Organization, User, Zone
from dispatch.reports.service import area

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Reviewer = Annotated[User, Depends(require_roles("office", "supervisor", "admin"))]
Company = aliased(Organization)
UseUnit = aliased(Organization)


@router.get("/expired-maintenance")
def expired_maintenance(_: Reviewer, viewer: ViewerDep, session: SessionDep,
                        settings: SettingsDep, now: Now,
                        district: Annotated[str | None, Query(
                            description="zone name, e.g. 小店区")] = None,
                        limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> dict[str, Any]:
    """In-service elevators whose ``maintenance_until`` is before today (centre's local date),
    longest overdue first."""
    district = area(viewer, district, session)
    today: date = now.astimezone(ZoneInfo(settings.timezone)).date()
    where = [Elevator.in_service.is_(True), Elevator.maintenance_until.is_not(None),
             Elevator.maintenance_until < today]
    if district is not None:
        where.append(Zone.name == district)
    base = (select(Elevator.id, Elevator.rescue_code, Elevator.register_code, Elevator.address,
                   Elevator.maintenance_until, Elevator.three_no, Zone.name.label("zone"),
                   Company.code.label("company_code"), Company.name.label("company_name"),
                   UseUnit.name.label("use_unit_name"))
            .join(Zone, Zone.id == Elevator.zone_id)
            .outerjoin(Company, Company.id == Elevator.maintenance_company_id)
            .outerjoin(UseUnit, UseUnit.id == Elevator.use_unit_id)
            .where(*where))
    total = session.scalar(select(func.count()).select_from(base.subquery()))
    rows = session.execute(base.order_by(Elevator.maintenance_until, Elevator.id).limit(limit))
    return {"as_of": today.isoformat(), "district": district, "total": total, "elevators": [
        {"elevator_id": r.id, "rescue_code": r.rescue_code, "register_code": r.register_code,
         "address": r.address, "zone": r.zone, "maintenance_until": r.maintenance_until
         .isoformat(), "days_overdue": (today - r.maintenance_until).days,
         "company_code": r.company_code, "company_name": r.company_name,
         "use_unit_name": r.use_unit_name, "three_no": r.three_no} for r in rows]}
