"""`rescue plan …`: replay a period's history under today's layout or a saved plan."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

plan_app = typer.Typer(help="Planning for city offices (coverage, replay).", no_args_is_help=True)
console = Console()


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.1f}%"


def _min(v: Any) -> str:
    return "—" if v is None else f"{float(v) / 60:.1f}"


@plan_app.command("replay")
def replay(
    from_: Annotated[str, typer.Option("--from", help="ISO date/time (local), inclusive")],
    to: Annotated[str, typer.Option("--to", help="ISO date/time (local), exclusive")],
    plan: Annotated[str | None, typer.Option("--plan", help="a saved plan's name")] = None,
    speeds: Annotated[str, typer.Option("--speeds", help="normal | rush")] = "normal",
    seed: Annotated[int, typer.Option(help="seed of the drawn delays and on-site times")] = 17,
    as_json: Annotated[bool, typer.Option("--json", help="print the JSON answer")] = False,
) -> None:
    """Run the period's real entrapments through the live dispatch rule (三级响应, deadlines,
    surge planner) with today's bases and the plan's; print both next to the actual KPIs."""
    from dispatch.errors import Problem
    from dispatch.planning import service
    from dispatch.reports import service as reports
    from dispatch.scoping import Visibility
    from dispatch.settings import get_settings
    from dispatch.uow import command_unit_of_work

    if speeds not in ("normal", "rush"):
        raise typer.BadParameter("normal or rush", param_hint="--speeds")
    settings = get_settings()
    try:
        with command_unit_of_work() as session:
            viewer = Visibility.internal()
            layout = service.layout_of(service.get_plan(session, viewer, plan)) if plan else None
            out = service.replay(session, viewer, settings, period=reports.period(from_, to),
                                 layout=layout, speeds=speeds,  # type: ignore[arg-type]
                                 seed=seed)
    except Problem as exc:
        console.print(f"[red]{exc.title}: {exc}[/]")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return
    cols = [("actual", "实际 actual"), ("today", "今日布局 replay"),
            *([("plan", f"方案 {plan}")] if plan else [])]
    t = Table(title=f"{out['from']} – {out['to']} · {out['entrapments']} entrapments · "
              f"speeds {speeds} · seed {seed}")
    t.add_column("")
    for _, title in cols:
        t.add_column(title, justify="right")
    rows: list[tuple[str, Any]] = [
        ("到场及时率 within limit", lambda f: _pct(f["arrival_within_limit_rate"])),
        ("P50 到场 min", lambda f: _min(f["arrival_p50_s"])),
        ("P90 到场 min", lambda f: _min(f["arrival_p90_s"])),
        ("二/三级 level 2-3 share", lambda f: _pct(f["level23_share"])),
        ("超时 missed", lambda f: str(sum(z["missed"] for z in f["missed_by_zone"]))),
    ]
    for label, fn in rows:
        t.add_row(label, *[fn(out[k]) for k, _ in cols])
    console.print(t)
    z = Table(title="超时（按区县） missed deadlines by zone")
    z.add_column("zone")
    for _, title in cols:
        z.add_column(title, justify="right")
    zones = sorted({m["zone"] for k, _ in cols for m in out[k]["missed_by_zone"]})
    for name in zones:
        z.add_row(name, *[next((f"{m['missed']}/{m['counted']}" for m in out[k]["missed_by_zone"]
                                if m["zone"] == name), "—") for k, _ in cols])
    console.print(z)
    b = Table(title="最忙队伍 busiest teams (replay)")
    for c in ("layout", "team", "jobs", "busy h"):
        b.add_column(c)
    for k, title in cols[1:]:
        for row in out[k]["busiest_teams"][:5]:
            b.add_row(title, row["name"], str(row["jobs"]), str(row["busy_h"]))
    console.print(b)
