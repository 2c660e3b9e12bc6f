"""Office review routes (``/api/v1/reports``) and the office page (``/office``).

Roles: office, supervisor, admin. An office account with a region sees only that zone
(``dispatch.scoping.Visibility``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response
from sqlalchemy import select
from starlette.requests import Request

from dispatch.deps import SessionDep, SettingsDep, ViewerDep, require_roles
from dispatch.dispatching.views import assignment_out
from dispatch.errors import Problem
from dispatch.incidents import service as incidents
from dispatch.models import User, Zone
from dispatch.notifications.service import notifications_of
from dispatch.reports import exports, kpis, service
from dispatch.reports.facts import compute
from dispatch.scoping import Visibility
from dispatch.security.ids import Id

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])
Reviewer = Annotated[User, Depends(require_roles("office", "supervisor", "admin"))]
From = Annotated[str, Query(alias="from", description="ISO 8601; inclusive, by received time")]
To = Annotated[str, Query(alias="to", description="ISO 8601; exclusive")]
District = Annotated[str | None, Query(description="zone name, e.g. 小店区")]
GroupBy = Literal["district", "company", "site_type", "hour", "cause", "month"]
Table = Literal["summary", "elevators", "companies", "use-units"]


@router.get("/summary")
def summary(_: Reviewer, viewer: ViewerDep, session: SessionDep, from_: From, to: To,
            district: District = None, group_by: GroupBy | None = None) -> dict[str, Any]:
    """KPIs for a period and area, one row (``key: "all"``) or one per group. Rates are
    fractions 0–1 (``null`` without a denominator); every statistic carries its ``n``."""
    return service.summary(session, viewer, service.period(from_, to), district=district,
                           group_by=group_by)


@router.get("/histogram")
def histogram(_: Reviewer, viewer: ViewerDep, session: SessionDep, from_: From, to: To,
              district: District = None,
              metric: Literal["dispatch_time", "response_time", "arrival_time", "onsite_time",
                              "total_time"] = "response_time",
              bin_s: Annotated[int, Query(ge=5, le=3600)] = 30) -> dict[str, Any]:
    return service.histogram(session, viewer, service.period(from_, to), district=district,
                             metric=metric, bin_s=bin_s)


@router.get("/rankings/elevators")
def hidden_danger(_: Reviewer, viewer: ViewerDep, session: SessionDep, from_: From, to: To,
                  district: District = None,
                  threshold: Annotated[int, Query(ge=2, le=50)] = 3) -> dict[str, Any]:
    """Elevators with ≥ 3 entrapments in a calendar month (挂牌督办 candidates; 三无 flagged)."""
    return service.hidden_danger(session, viewer, service.period(from_, to), district=district,
                                 threshold=threshold)


@router.get("/rankings/companies")
def companies(_: Reviewer, viewer: ViewerDep, session: SessionDep, from_: From, to: To,
              district: District = None, sort: Literal["rate", "late", "entrapments"] = "rate",
              limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    """Maintenance companies by entrapment rate (per 100 elevators maintained per month) or by
    late arrivals."""
    return service.companies(session, viewer, service.period(from_, to), district=district,
                             sort=sort, limit=limit)


@router.get("/rankings/use-units")
def use_units(_: Reviewer, viewer: ViewerDep, session: SessionDep, from_: From, to: To,
              district: District = None,
              sort: Literal["rate", "late", "entrapments"] = "entrapments",
              limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> dict[str, Any]:
    return service.use_units(session, viewer, service.period(from_, to), district=district,
                             sort=sort, limit=limit)


def _table(session: SessionDep, viewer: Visibility, table: str, p: service.Period,
           district: str | None, group_by: str | None, sort: str | None,
           limit: int) -> dict[str, Any]:
    if table == "summary":
        return service.summary(session, viewer, p, district=district, group_by=group_by)
    if table == "elevators":
        return service.hidden_danger(session, viewer, p, district=district)
    if table == "companies":
        return service.companies(session, viewer, p, district=district, sort=sort or "rate",
                                 limit=limit)
    return service.use_units(session, viewer, p, district=district,
                             sort=sort or "entrapments", limit=limit)


@router.get("/export/{table}.{fmt}", response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-"
                                         "officedocument.spreadsheetml.sheet": {}}}})
def export(table: Table, fmt: Literal["csv", "xlsx"], _: Reviewer, viewer: ViewerDep,
           session: SessionDep, settings: SettingsDep,
           from_: From, to: To, district: District = None, group_by: GroupBy | None = None,
           sort: Literal["rate", "late", "entrapments"] | None = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 50,
           lang: Annotated[Literal["zh-CN", "en"] | None, Query(
               description="the office page's language: its headers, minutes, percentages "
               "and (summary) a total row; without it the API's keys and values")] = None,
           ) -> Response:
    """Any table above as CSV (UTF-8 with BOM) or XLSX; the cells are the API's values. The
    file is named by the period's local dates (``RESCUE_TIMEZONE``), as the page shows them."""
    p = service.period(from_, to)
    data = _table(session, viewer, table, p, district, group_by, sort, limit)
    rows = list(service.table_rows(table, data))
    if lang is not None and table == "summary" and group_by is not None and rows:
        total = service.summary(session, viewer, p, district=district, group_by=None)["rows"][0]
        label = exports.TOTAL[lang]["city" if data.get("district") is None else "area"]
        rows.append(service.flat({**total, "key": label}))
    tz = ZoneInfo(settings.timezone)
    name = f"{table}_{p.start.astimezone(tz).date()}_{p.end.astimezone(tz).date()}"
    if fmt == "csv":
        return Response(exports.to_csv(rows, lang=lang, group_by=group_by),
                        media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    meta = {k: v for k, v in data.items() if k != "rows"}
    meta["definitions"] = "docs/kpis.md"
    return Response(
        exports.to_xlsx(rows, title=table, meta=meta, lang=lang, group_by=group_by),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/zones")
def zones(_: Reviewer, viewer: ViewerDep, session: SessionDep) -> list[dict[str, Any]]:
    """The districts this account may report on (the page's area filter)."""
    stmt = viewer.zones(select(Zone.name, Zone.name_en, Zone.arrival_limit_min)
                        .order_by(Zone.code))
    return [{"name": n, "name_en": en, "arrival_limit_min": lim}
            for n, en, lim in session.execute(stmt)]


@router.get("/incidents/{incident_id}/audit")
def audit(incident_id: Id, _: Reviewer, viewer: ViewerDep,
          session: SessionDep) -> dict[str, Any]:
    """One incident for review: the timeline, each offer's ranking record ("why this team"),
    every SMS and call sent about it with its delivery status, who did what, and the KPI
    figures it contributes."""
    incident = incidents.load_incident(session, incident_id, viewer)
    events = incidents.timeline(session, incident.id)
    seq, facts = compute(session, [incident.id])[incident.id]
    zone = incident.zone
    row = kpis.Row(facts, zone.clock_start, zone.arrival_limit_min)
    actors: Counter[tuple[str, str | None, str]] = Counter()
    who: dict[tuple[str, str | None, str], list[str]] = {}
    for e in events:
        key = (e.actor, e.actor_role, str((e.payload or {}).get("via", "")))
        actors[key] += 1
        who.setdefault(key, []).append(e.type)
    return {
        "incident": incidents.incident_out(incident, viewer=viewer).model_dump(mode="json"),
        "timeline": [e.model_dump(mode="json") for e in events],
        "assignments": [assignment_out(a).model_dump(mode="json")
                        for a in incidents.assignments_of(session, incident.id)],
        "notifications": [n.model_dump(mode="json")
                          for n in notifications_of(session, incident.id)],
        "who_did_what": [{"actor": a, "role": r, "via": v, "events": who[(a, r, v)]}
                         for (a, r, v) in actors],
        "kpi": {
            "seq": seq, "is_report": kpis.is_report(facts),
            "is_entrapment": kpis.is_entrapment(facts), "outcome": facts.outcome,
            "went_level": facts.went_level, "imported": facts.imported,
            **{f"{name}_s": fn(row) for name, fn in kpis.INTERVALS.items()},
            "arrival_limit_min": row.limit_min, "clock_start": row.clock_start,
            "arrival_within_limit": kpis.arrival_verdict(row),
            "level1_offers": facts.l1_offers, "level1_within_3min": facts.l1_hits,
        },
    }


# ----------------------------------------------------------------------------------------
# the office page: static files, served by explicit routes (no global static mount needed)

WEB = Path(__file__).resolve().parent.parent.parent / "web"
PAGE_FILES = {
    "office.html": "text/html; charset=utf-8",
    "office.js": "text/javascript; charset=utf-8",
    "office-terminals.js": "text/javascript; charset=utf-8",
    "office.css": "text/css; charset=utf-8",
}
VENDOR = WEB / "vendor" / "chartjs"


async def office_page(request: Request) -> FileResponse:
    """The page holds no data; its API calls carry the user's token (cookie or bearer)."""
    name = request.path_params.get("name", "office.html")
    if name not in PAGE_FILES:
        raise Problem(404, "Not found")
    return FileResponse(WEB / name, media_type=PAGE_FILES[name],
                        headers={"Cache-Control": "no-cache"})


async def vendor_file(request: Request) -> FileResponse:
    name = request.path_params["name"]
    if name != "chart.umd.min.js":
        raise Problem(404, "Not found")
    return FileResponse(VENDOR / name, media_type="text/javascript; charset=utf-8")


page_router = APIRouter()
page_router.add_route("/office", office_page, methods=["GET"], include_in_schema=False)
page_router.add_route("/office/{name}", office_page, methods=["GET"], include_in_schema=False)
page_router.add_route("/office/vendor/chartjs/{name}", vendor_file, methods=["GET"],
                      include_in_schema=False)
