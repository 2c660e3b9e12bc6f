"""Planning for offices (``/api/v1/planning``) and the coverage page (``/office/coverage``).

Roles: office (scoped to its region by ``dispatch.scoping.Visibility``), supervisor, admin.
Coverage and replay only read; saving a plan writes one ``station_plan`` row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import FileResponse, Response
from starlette.requests import Request

from dispatch.deps import Now, SessionDep, SettingsDep, ViewerDep, require_roles
from dispatch.errors import Problem
from dispatch.models import User
from dispatch.planning import service
from dispatch.reports import exports
from dispatch.reports import service as reports

router = APIRouter(prefix="/api/v1/planning", tags=["planning"])
Planner = Annotated[User, Depends(require_roles("office", "supervisor", "admin"))]
SpeedsQ = Annotated[Literal["normal", "rush"], Query(description="road speed table")]
At = Annotated[str | None, Query(description="ISO 8601 time of day for rosters; default now")]
PlanQ = Annotated[str | None, Query(description="a saved plan's name")]


def _at(value: str | None, now: datetime) -> datetime:
    return reports.parse_time(value, "at") if value else now.astimezone(UTC)


def _layout(session: SessionDep, viewer: ViewerDep, plan: str | None,
            body: dict[str, Any] | None) -> service.Layout:
    if body and (body.get("added") or body.get("removed")):
        return service.parse_layout(body)
    if plan:
        return service.layout_of(service.get_plan(session, viewer, plan))
    return service.Layout()


@router.get("/coverage")
def coverage(_: Planner, viewer: ViewerDep, session: SessionDep, settings: SettingsDep,
             now: Now, at: At = None, speeds: SpeedsQ = "normal", plan: PlanQ = None,
             points: bool = True) -> dict[str, Any]:
    """Every in-service elevator's band (0 safe: turnout + road ≤ limit − margin; 1 within the
    limit; 2 beyond) from today's on-duty bases, per-zone shares, uncovered buildings; with
    ``plan``, the plan's figures next to today's."""
    when = _at(at, now)
    layout = _layout(session, viewer, plan, None)
    run = service.run_coverage(session, viewer, settings, at=when, speeds=speeds, layout=layout)
    return service.coverage_out(run, at=when, speeds=speeds, layout=layout, points=points)


@router.post("/coverage")
def what_if(_: Planner, viewer: ViewerDep, session: SessionDep, settings: SettingsDep,
            now: Now, body: Annotated[dict[str, Any], Body()], at: At = None,
            speeds: SpeedsQ = "normal", points: bool = True) -> dict[str, Any]:
    """A what-if layout ``{added: [{lon, lat, teams}], removed: [team ids]}``: each added base
    costs one search from it, not a recomputation."""
    when = _at(at, now)
    layout = service.parse_layout(body)
    run = service.run_coverage(session, viewer, settings, at=when, speeds=speeds, layout=layout)
    return service.coverage_out(run, at=when, speeds=speeds, layout=layout, points=points)


@router.post("/suggest")
def suggest(_: Planner, viewer: ViewerDep, session: SessionDep, settings: SettingsDep,
            now: Now, body: Annotated[dict[str, Any] | None, Body()] = None,
            k: Annotated[int, Query(ge=1, le=30)] = 5, at: At = None,
            speeds: SpeedsQ = "normal") -> dict[str, Any]:
    """Greedy set cover: ``k`` new bases, each with the coverage after it."""
    when = _at(at, now)
    layout = service.parse_layout(body)
    run = service.run_coverage(session, viewer, settings, at=when, speeds=speeds, layout=layout)
    router_snap = service.graph_router(settings, speeds).snap
    return {"k": k, "speeds": speeds, "at": when.isoformat(),
            "suggestions": service.suggest(run, k=k, router_snap=router_snap)}


@router.get("/coverage/uncovered.{fmt}", response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-"
                                         "officedocument.spreadsheetml.sheet": {}}}})
def uncovered_export(fmt: Literal["csv", "xlsx"], _: Planner, viewer: ViewerDep,
                     session: SessionDep, settings: SettingsDep, now: Now, at: At = None,
                     speeds: SpeedsQ = "normal", plan: PlanQ = None) -> Response:
    """The buildings no on-duty base reaches within the limit, as CSV or XLSX."""
    when = _at(at, now)
    layout = _layout(session, viewer, plan, None)
    run = service.run_coverage(session, viewer, settings, at=when, speeds=speeds, layout=layout)
    data = service.coverage_out(run, at=when, speeds=speeds, layout=layout, points=False,
                                uncovered_limit=10**9)
    rows = data["uncovered"]
    name = f"uncovered_{when.date()}_{speeds}"
    if fmt == "csv":
        return Response(exports.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    meta = {"at": data["at"], "speeds": speeds, "plan": plan or "", "stations": data["stations"]}
    return Response(
        exports.to_xlsx(rows, title="uncovered", meta=meta),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/replay")
def replay(_: Planner, viewer: ViewerDep, session: SessionDep, settings: SettingsDep,
           from_: Annotated[str, Query(alias="from")], to: str, plan: PlanQ = None,
           speeds: SpeedsQ = "normal",
           seed: Annotated[int, Query(ge=0, le=2**31)] = 17) -> dict[str, Any]:
    """The period's real entrapments through the live dispatch rule with today's bases (and
    the plan's), next to the period's actual KPIs."""
    p = reports.period(from_, to)
    if p.days > 366:
        raise Problem(422, "Period too long", "a replay covers at most a year", field="to")
    layout = service.layout_of(service.get_plan(session, viewer, plan)) if plan else None
    return service.replay(session, viewer, settings, period=p, layout=layout, speeds=speeds,
                          seed=seed)


@router.get("/plans")
def plans(_: Planner, viewer: ViewerDep, session: SessionDep) -> list[dict[str, Any]]:
    return [service.plan_out(p) for p in service.list_plans(session, viewer)]


@router.put("/plans/{name}")
def save_plan(name: str, _: Planner, viewer: ViewerDep, session: SessionDep, now: Now,
              body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Create or replace a named plan of the caller's region."""
    layout = service.parse_layout(body)
    return service.plan_out(service.save_plan(session, viewer, name=name, layout=layout,
                                              now=now))


@router.get("/plans/{name}")
def get_plan(name: str, _: Planner, viewer: ViewerDep, session: SessionDep) -> dict[str, Any]:
    return service.plan_out(service.get_plan(session, viewer, name))


@router.get("/plans/{name}/export.{fmt}", response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/vnd.openxmlformats-"
                                         "officedocument.spreadsheetml.sheet": {}}}})
def export_plan(name: str, fmt: Literal["csv", "xlsx"], _: Planner, viewer: ViewerDep,
                session: SessionDep, settings: SettingsDep, now: Now,
                speeds: SpeedsQ = "normal") -> Response:
    """The plan's changes (one row per added base or switched-off team) with the coverage of
    today and of the plan on the last rows."""
    plan = service.get_plan(session, viewer, name)
    layout = service.layout_of(plan)
    run = service.run_coverage(session, viewer, settings, at=now.astimezone(UTC),
                               speeds=speeds, layout=layout)
    rows = service.plan_rows(run, layout)
    fname = f"plan_{plan.id}_{speeds}"
    if fmt == "csv":
        return Response(exports.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{fname}.csv"'})
    return Response(
        exports.to_xlsx(rows, title="plan", meta={"plan": plan.name, "speeds": speeds}),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{fname}.xlsx"'})


@router.delete("/plans/{name}", status_code=204, response_class=Response)
def delete_plan(name: str, _: Planner, viewer: ViewerDep, session: SessionDep) -> Response:
    service.delete_plan(session, viewer, name)
    return Response(status_code=204)


# ----------------------------------------------------------------------------------------
# the coverage page (registered before the office page's /office/{name})

WEB = Path(__file__).resolve().parent.parent.parent / "web"
PAGE_FILES = {"coverage": ("coverage.html", "text/html; charset=utf-8"),
              "coverage.js": ("coverage.js", "text/javascript; charset=utf-8")}


async def coverage_page(request: Request) -> FileResponse:
    """Static; its API calls carry the user's token."""
    name = request.url.path.rsplit("/", 1)[-1]
    file, media = PAGE_FILES[name]
    return FileResponse(WEB / file, media_type=media, headers={"Cache-Control": "no-cache"})


page_router = APIRouter()
page_router.add_route("/office/coverage", coverage_page, methods=["GET"],
                      include_in_schema=False)
page_router.add_route("/office/coverage.js", coverage_page, methods=["GET"],
                      include_in_schema=False)
