"""Report queries: gather plain rows (facts + dimensions) and hand them to ``kpis``.

The database work is two queries per report — the period's fact rows joined to their zone and
elevator, and the elevators in service per group — after refreshing facts made stale by late
edits. Everything that decides a number lives in :mod:`dispatch.reports.kpis`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from dispatch.errors import Problem
from dispatch.models import Elevator, Incident, Organization, Zone
from dispatch.reports import kpis
from dispatch.reports.facts import FACT_COLUMNS, ensure_fresh
from dispatch.reports.models import ReportFact
from dispatch.scoping import Visibility

LOCAL_TZ: Final = ZoneInfo("Asia/Shanghai")
"""China Standard Time (UTC+8, no DST): hours of the day and calendar months are local."""
GROUPS: Final = ("district", "company", "site_type", "hour", "cause", "month")
NO_POPULATION: Final = ("hour", "cause", "month")
"""Groupings without an elevator population of their own (the rate uses the whole area's)."""


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime

    def echo(self) -> dict[str, str]:
        """The period as given back to the client, in local time (UTC+8)."""
        return {"from": self.start.astimezone(LOCAL_TZ).isoformat(),
                "to": self.end.astimezone(LOCAL_TZ).isoformat()}

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def parse_time(value: str, field: str) -> datetime:
    """ISO 8601 with an offset; a date or a time without offset is local (UTC+8)."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Problem(422, "Invalid time", f"{field}: not an ISO 8601 date/time ({value!r})",
                      field=field) from exc
    if t.tzinfo is None:
        t = t.replace(tzinfo=LOCAL_TZ)
    if not 2000 <= t.year < 2100:  # also keeps the UTC conversion from overflowing
        raise Problem(422, "Invalid time", f"{field}: a time between 2000 and 2100",
                      field=field)
    return t.astimezone(UTC)


def period(start: str, end: str) -> Period:
    p = Period(parse_time(start, "from"), parse_time(end, "to"))
    if p.end <= p.start:
        raise Problem(422, "Empty period", "to must be after from", field="to")
    if p.days > 3 * 366:
        raise Problem(422, "Period too long", "at most three years", field="to")
    return p


def area(viewer: Visibility, district: str | None, session: Session) -> str | None:
    """The district the report may cover: an office with a region sees only that region."""
    district, outside = viewer.district_for_report(district)
    if outside:
        raise Problem(403, "Outside your region",
                      f"this account sees only {district}", field="district")
    if district is not None and session.scalar(
            select(Zone.id).where(Zone.name == district)) is None:
        raise Problem(422, "Unknown district", f"no zone named {district!r}", field="district")
    return district


Company = aliased(Organization)
UseUnit = aliased(Organization)


@dataclass(frozen=True, slots=True)
class Item:
    """One incident in a report: its KPI row and its dimensions."""

    incident_id: int
    row: kpis.Row
    district: str
    company: str
    company_id: int | None
    use_unit: str
    use_unit_id: int | None
    elevator_id: int
    site_type: str
    arrival_limit: int


def load_items(session: Session, p: Period, district: str | None) -> list[Item]:
    ensure_fresh(session, p.start, p.end)
    stmt = (select(ReportFact.incident_id, *FACT_COLUMNS, Zone.name, Zone.clock_start,
                   Zone.arrival_limit_min, Company.name, Elevator.maintenance_company_id,
                   UseUnit.name, Elevator.use_unit_id, Elevator.id, Elevator.site_type)
            .join(Incident, Incident.id == ReportFact.incident_id)
            .join(Zone, Zone.id == Incident.zone_id)
            .join(Elevator, Elevator.id == Incident.elevator_id)
            .outerjoin(Company, Company.id == Elevator.maintenance_company_id)
            .outerjoin(UseUnit, UseUnit.id == Elevator.use_unit_id)
            .where(ReportFact.received_at >= p.start.timestamp(),
                   ReportFact.received_at < p.end.timestamp()))
    if district is not None:
        stmt = stmt.where(Zone.name == district)
    n = len(FACT_COLUMNS)
    out = []
    for r in session.execute(stmt):
        facts = kpis.Facts(*r[1:1 + n])
        (zname, clock, limit, cname, cid, uname, uid, eid, site) = r[1 + n:]
        out.append(Item(r[0], kpis.Row(facts, clock, limit), zname, cname or "（无维保单位）", cid,
                        uname or "（无使用单位）", uid, eid, site, limit))
    return out


def elevators_by(session: Session, group_by: str | None,
                 district: str | None) -> dict[str, int]:
    """Elevators in service per group key (``"all"`` without a grouping)."""
    key: Any
    if group_by == "district":
        key = Zone.name
    elif group_by == "company":
        key = func.coalesce(Company.name, "（无维保单位）")
    elif group_by == "site_type":
        key = Elevator.site_type
    else:
        key = None
    cols = [key, func.count()] if key is not None else [func.count()]
    stmt = (select(*cols).select_from(Elevator).join(Zone, Zone.id == Elevator.zone_id)
            .outerjoin(Company, Company.id == Elevator.maintenance_company_id)
            .where(Elevator.in_service.is_(True)))
    if district is not None:
        stmt = stmt.where(Zone.name == district)
    if key is None:
        return {"all": int(session.scalar(stmt) or 0)}
    return {str(k): int(n) for k, n in session.execute(stmt.group_by(key))}


def _local(t: float | None) -> datetime:
    return datetime.fromtimestamp(t or 0.0, LOCAL_TZ)


KEYS: Final[dict[str, Callable[[Item], str]]] = {
    "district": lambda it: it.district,
    "company": lambda it: it.company,
    "site_type": lambda it: it.site_type,
    "hour": lambda it: f"{_local(it.row.facts.received_at).hour:02d}",
    "cause": lambda it: it.row.facts.cause_code or "unknown",
    "month": lambda it: _local(it.row.facts.received_at).strftime("%Y-%m"),
}


def summary(session: Session, viewer: Visibility, p: Period, *, district: str | None,
            group_by: str | None) -> dict[str, Any]:
    district = area(viewer, district, session)
    items = load_items(session, p, district)
    elevators = elevators_by(session, group_by, district)
    groups: dict[str, list[kpis.Row]] = defaultdict(list)
    if group_by is None:
        groups["all"] = [it.row for it in items]
    else:
        for it in items:
            groups[KEYS[group_by](it)].append(it.row)
        if group_by in ("district", "site_type", "company"):
            for k in elevators:
                groups.setdefault(k, [])
    rows = []
    for key in sorted(groups):
        pop = (elevators.get(key, 0) if group_by not in NO_POPULATION
               else None)
        rows.append({"key": key, **kpis.summarize(groups[key], days=p.days, elevators=pop)})
    if group_by in ("district", "company", "site_type"):
        rows = [r for r in rows if r["reports"] or r["elevators_in_service"]]
    if group_by == "company":
        rows.sort(key=lambda r: (-(r["entrapments"]), r["key"]))
    return {**p.echo(), "district": district,
            "group_by": group_by, "days": round(p.days, 6), "rows": rows}


def histogram(session: Session, viewer: Visibility, p: Period, *, district: str | None,
              metric: str, bin_s: int) -> dict[str, Any]:
    """Counts of an interval over the period's entrapments in bins of ``bin_s`` seconds."""
    district = area(viewer, district, session)
    fn = kpis.INTERVALS[metric]
    values = np.array([v for it in load_items(session, p, district)
                       if kpis.is_entrapment(it.row.facts)
                       and (v := fn(it.row)) is not None], dtype=float)
    if values.size == 0:
        return {"metric": metric, "bin_s": bin_s, "n": 0, "bins": []}
    top = int(np.ceil(max(values.max(), 1) / bin_s)) * bin_s
    counts, edges = np.histogram(values, bins=np.arange(0, top + bin_s, bin_s))
    return {"metric": metric, "bin_s": bin_s, "n": int(values.size),
            "bins": [{"from_s": int(a), "to_s": int(b), "count": int(c)}
                     for a, b, c in zip(edges[:-1], edges[1:], counts, strict=True)]}


# ----------------------------------------------------------------------------------------
# rankings (the "名单" an office brings to an interview)

def hidden_danger(session: Session, viewer: Visibility, p: Period, *, district: str | None,
                  threshold: int = 3) -> dict[str, Any]:
    """Elevators with ≥ ``threshold`` entrapments in one calendar (local) month."""
    district = area(viewer, district, session)
    items = [it for it in load_items(session, p, district) if kpis.is_entrapment(it.row.facts)]
    per: dict[tuple[str, int], int] = defaultdict(int)
    for it in items:
        per[(KEYS["month"](it), it.elevator_id)] += 1
    hits = {k: n for k, n in per.items() if n >= threshold}
    info = {}
    if hits:
        ids = list({eid for _, eid in hits})
        q = (select(Elevator.id, Elevator.rescue_code, Elevator.register_code, Elevator.address,
                    Elevator.three_no, Zone.name, Company.name, UseUnit.name)
             .join(Zone, Zone.id == Elevator.zone_id)
             .outerjoin(Company, Company.id == Elevator.maintenance_company_id)
             .outerjoin(UseUnit, UseUnit.id == Elevator.use_unit_id)
             .where(Elevator.id.in_(ids)))
        info = {r[0]: r for r in session.execute(q)}
    rows = []
    for (month, eid), n in sorted(hits.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1])):
        _, rc, reg, addr, three_no, zname, cname, uname = info[eid]
        rows.append({"month": month, "elevator_id": eid, "rescue_code": rc,
                     "register_code": reg, "address": addr, "district": zname,
                     "maintenance_company": cname, "use_unit": uname, "entrapments": n,
                     "three_no": bool(three_no)})
    return {**p.echo(), "district": district,
            "threshold": threshold, "rows": rows}


def _population(session: Session, column: Any, district: str | None) -> dict[int, int]:
    stmt = (select(column, func.count()).select_from(Elevator)
            .join(Zone, Zone.id == Elevator.zone_id)
            .where(Elevator.in_service.is_(True), column.is_not(None)).group_by(column))
    if district is not None:
        stmt = stmt.where(Zone.name == district)
    return {int(k): int(n) for k, n in session.execute(stmt)}


def _org_table(session: Session, viewer: Visibility, p: Period, *, district: str | None, kind: str,
               sort: str, limit: int) -> dict[str, Any]:
    district = area(viewer, district, session)
    items = load_items(session, p, district)
    if kind == "company":
        pop = _population(session, Elevator.maintenance_company_id, district)
        key_of: Callable[[Item], int | None] = lambda it: it.company_id  # noqa: E731
    else:
        pop = _population(session, Elevator.use_unit_id, district)
        key_of = lambda it: it.use_unit_id  # noqa: E731
    groups: dict[int, list[kpis.Row]] = defaultdict(list)
    for it in items:
        k = key_of(it)
        if k is not None:
            groups[k].append(it.row)
    ids = list(groups)
    names: dict[int, tuple[str, str]] = {}
    if ids:
        names = {i: (c, n) for i, c, n in session.execute(
            select(Organization.id, Organization.code, Organization.name)
            .where(Organization.id.in_(ids)))}
    rows = []
    for oid, group in groups.items():
        s = kpis.summarize(group, days=p.days, elevators=pop.get(oid, 0))
        if not s["entrapments"]:
            continue
        code, name = names[oid]
        rows.append({"id": oid, "code": code, "name": name,
                     "elevators": s["elevators_in_service"], "entrapments": s["entrapments"],
                     "entrapment_rate_per_100_per_month": s["entrapment_rate_per_100_per_month"],
                     "late_arrivals": s["late_arrivals"],
                     "arrival_within_limit_rate": s["arrival_within_limit_rate"],
                     "arrival_within_limit_n": s["arrival_within_limit_n"],
                     "arrival_p90_s": s["arrival_time"]["p90"],
                     "response_3min_rate": s["response_3min_rate"]})

    def rate_key(r: dict[str, Any]) -> tuple[Any, ...]:
        rate_ = r["entrapment_rate_per_100_per_month"]
        return (-(rate_ if rate_ is not None else -1), -r["entrapments"], r["name"])

    if sort == "late":
        rows.sort(key=lambda r: (-r["late_arrivals"], -r["entrapments"], r["name"]))
    elif sort == "entrapments":
        rows.sort(key=lambda r: (-r["entrapments"], r["name"]))
    else:
        rows.sort(key=rate_key)
    return {**p.echo(), "district": district,
            "sort": sort, "total": len(rows), "rows": rows[:limit]}


def companies(session: Session, viewer: Visibility, p: Period, *, district: str | None,
              sort: str = "rate", limit: int = 50) -> dict[str, Any]:
    """Maintenance companies by entrapment rate (per 100 elevators they maintain per month)
    or by late arrivals (misses of the arrival limit)."""
    return _org_table(session, viewer, p, district=district, kind="company", sort=sort,
                      limit=limit)


def use_units(session: Session, viewer: Visibility, p: Period, *, district: str | None,
              sort: str = "entrapments", limit: int = 50) -> dict[str, Any]:
    return _org_table(session, viewer, p, district=district, kind="use_unit", sort=sort,
                      limit=limit)


def month_floor(t: datetime) -> datetime:
    local = t.astimezone(LOCAL_TZ)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def default_period(now: datetime, days: int = 90) -> Period:
    end = (now.astimezone(LOCAL_TZ) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)
    return Period((end - timedelta(days=days)).astimezone(UTC), end.astimezone(UTC))


def flat(row: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested summary row → flat columns for CSV/XLSX (``arrival_time.p90``)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, dict):
            out.update(flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def table_rows(kind: str, data: dict[str, Any]) -> Sequence[dict[str, Any]]:
    return [flat(r) for r in data["rows"]]
