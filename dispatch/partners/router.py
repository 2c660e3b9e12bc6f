"""Partner routes: the admin API (``/api/v1/partners``, deliveries, replays), the operators'
unresolved transfers, and the partner interface (``/api/v1/partner/...``, partner key)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from dispatch.deps import Admin, Now, Operator, SessionDep, SettingsDep
from dispatch.errors import Problem, problem_response
from dispatch.partners import service
from dispatch.partners.auth import PartnerCaller
from dispatch.partners.models import Partner, PartnerDelivery, PartnerReport
from dispatch.partners.schemas import (
    DeliveryOut,
    FeedOut,
    PartnerCreate,
    PartnerCreated,
    PartnerIncidentView,
    PartnerOut,
    PartnerUpdate,
    ReplayIn,
    ReplayOut,
    ReportOut,
    ResolveIn,
    SecretOut,
    StatusIn,
    TransferIn,
)
from dispatch.security.ids import Id, Offset

admin_router = APIRouter(prefix="/api/v1/partners", tags=["partners"])
router = APIRouter(tags=["partners"])
ExternalId = Annotated[str, Path(min_length=1, max_length=128)]


@admin_router.get("", response_model=list[PartnerOut])
def list_partners(_: Admin, session: SessionDep) -> list[PartnerOut]:
    return [service.partner_out(session, p)
            for p in session.scalars(select(Partner).order_by(Partner.id))]


@admin_router.post("", status_code=201, response_model=PartnerCreated)
def create_partner(body: PartnerCreate, _: Admin, session: SessionDep, request: Request,
                   now: Now) -> PartnerCreated:
    """Register a partner; the answer carries its API key and secret, shown this once."""
    p, key, secret = service.create_partner(session, body, app_secret=request.app.state.secret_key,
                                            now=now)
    return PartnerCreated(**service.partner_out(session, p).model_dump(), api_key=key,
                          secret=secret)


@admin_router.patch("/{partner_id}", response_model=PartnerOut)
def update_partner(partner_id: Id, body: PartnerUpdate, _: Admin,
                   session: SessionDep) -> PartnerOut:
    """Change URL, events, region, duty phone; ``enabled: false`` disables the partner."""
    p = service.update_partner(session, service.get_partner(session, partner_id, for_update=True),
                               body)
    return service.partner_out(session, p)


@admin_router.post("/{partner_id}/rotate-secret", response_model=SecretOut)
def rotate_secret(partner_id: Id, _: Admin, session: SessionDep, request: Request) -> SecretOut:
    p = service.get_partner(session, partner_id, for_update=True)
    return SecretOut(id=p.id, secret=service.rotate_secret(
        p, app_secret=request.app.state.secret_key))


@admin_router.post("/{partner_id}/resume", response_model=ReplayOut)
def resume(partner_id: Id, _: Admin, session: SessionDep, now: Now) -> ReplayOut:
    """Unpause a partner: what waited is sent again, in order."""
    p = service.get_partner(session, partner_id, for_update=True)
    return ReplayOut(replayed=service.resume(session, p, now=now))


@admin_router.post("/{partner_id}/replay", response_model=ReplayOut)
def replay_period(partner_id: Id, body: ReplayIn, _: Admin, session: SessionDep,
                  now: Now) -> ReplayOut:
    """Send again every event written in ``[since, until)`` (same delivery ids)."""
    service.get_partner(session, partner_id)
    return ReplayOut(replayed=service.replay(session, now=now, partner_id=partner_id,
                                             since=body.since, until=body.until))


@admin_router.get("/{partner_id}/deliveries", response_model=list[DeliveryOut])
def deliveries(partner_id: Id, _: Admin, session: SessionDep,
               status: Literal["pending", "sending", "delivered", "failed", "feed"] | None = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 100,
               offset: Offset = 0) -> list[DeliveryOut]:
    service.get_partner(session, partner_id)
    stmt = select(PartnerDelivery).where(PartnerDelivery.partner_id == partner_id)
    if status is not None:
        stmt = stmt.where(PartnerDelivery.status == status)
    rows = session.scalars(stmt.order_by(PartnerDelivery.id.desc()).limit(limit).offset(offset))
    return [service.delivery_out(r) for r in rows]


@router.post("/api/v1/partner-deliveries/{delivery_id}/replay", response_model=ReplayOut,
             tags=["partners"])
def replay_one(delivery_id: Id, _: Admin, session: SessionDep, now: Now) -> ReplayOut:
    """Send one row again (same delivery id)."""
    n = service.replay(session, now=now, delivery_id=delivery_id)
    if not n:
        raise Problem(404, "Delivery not found", f"no delivery {delivery_id}",
                      field="delivery_id")
    return ReplayOut(replayed=n)


@router.get("/api/v1/partner-reports", response_model=list[ReportOut])
def partner_reports(_: Operator, session: SessionDep, unresolved: bool = False,
                    limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[ReportOut]:
    """Transfers handed over by partners; ``unresolved=true``: those no incident was made of."""
    stmt = select(PartnerReport, Partner.name).join(Partner,
                                                    Partner.id == PartnerReport.partner_id)
    if unresolved:
        stmt = stmt.where(PartnerReport.resolved.is_(False))
    rows = session.execute(stmt.order_by(PartnerReport.id.desc()).limit(limit)).all()
    return [service.report_out(r, name) for r, name in rows]


@router.post("/api/v1/partner-reports/{report_id}/resolve", response_model=ReportOut)
def resolve_report(report_id: Id, body: ResolveIn, user: Operator, session: SessionDep,
                   now: Now) -> ReportOut:
    """Mark an unresolved transfer dealt with, optionally linking the incident recorded for it."""
    r = service.resolve_report(session, report_id, incident_id=body.incident_id, note=body.note,
                               by=user.username, now=now)
    name = session.scalar(select(Partner.name).where(Partner.id == r.partner_id)) or ""
    return service.report_out(r, name)


# --- the partner interface ----------------------------------------------------------------


@router.post("/api/v1/partner/incidents", status_code=201,
             responses={200: {"description": "duplicate report, merged"},
                        422: {"description": "unknown elevator; the report is kept"}})
def transfer(body: TransferIn, partner: PartnerCaller, session: SessionDep,
             settings: SettingsDep, now: Now) -> JSONResponse:
    """Hand an entrapment over (channel ``transfer``). The same ``external_id`` again answers
    the first answer."""
    status, answer = service.receive_transfer(session, partner, body, now=now,
                                              settings=settings)
    if status >= 400:
        return problem_response(status, answer)  # not raised: the report must be committed
    return JSONResponse(answer, status_code=status)


@router.get("/api/v1/partner/incidents/{external_id}", response_model=PartnerIncidentView)
def partner_incident(external_id: ExternalId, partner: PartnerCaller,
                     session: SessionDep) -> PartnerIncidentView:
    """The partner's own view of an incident it handed over (or was handed)."""
    return PartnerIncidentView(**service.partner_view(session, partner, external_id))


@router.post("/api/v1/partner/incidents/{external_id}/status")
def partner_status(external_id: ExternalId, body: StatusIn, partner: PartnerCaller,
                   session: SessionDep, settings: SettingsDep, now: Now) -> dict[str, object]:
    """A fire_119 partner's step on a level-3 handover (accepted, arrived, released, declined)."""
    return service.record_fire_status(session, partner, external_id, body, now=now,
                                      settings=settings)


@router.get("/api/v1/partner/events", response_model=FeedOut)
def partner_events(partner: PartnerCaller, session: SessionDep, settings: SettingsDep, now: Now,
                   since: Annotated[int, Query(ge=0, le=2**62)] = 0,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100) -> FeedOut:
    """The same events as the pushes, as a pull feed: send the answer's ``next`` as ``since``."""
    events, nxt = service.feed(session, partner, since=since, limit=limit, now=now,
                               settings=settings)
    return FeedOut(events=events, next=nxt)

