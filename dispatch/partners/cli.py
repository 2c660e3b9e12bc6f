"""``rescue partners``: register the systems of the regional emergency system (issue 14)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

partners_app = typer.Typer(help="Partner systems (provincial platform, 119, 110, 12345, city "
                           "command) and their keys.", no_args_is_help=True)
console = Console()


@partners_app.command("add")
def partners_add(
    name: Annotated[str, typer.Argument(help="Partner name (unique).")],
    kind: Annotated[str, typer.Option(help="province_platform, city_command, fire_119, "
                                      "police_110, hotline_12345 or other.")],
    url: Annotated[str | None, typer.Option(help="Where events are pushed (none: pull feed "
                                            "only).")] = None,
    events: Annotated[str | None, typer.Option(help="Event types, comma-separated (default: "
                                               "all).")] = None,
    region: Annotated[str | None, typer.Option(help="Zone code (or name) the partner is "
                                               "limited to.")] = None,
    duty_phone: Annotated[str | None, typer.Option(help="Duty phone (fire_119: the handover "
                                                   "SMS).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {id, api_key, secret} as "
                                          "JSON.")] = False,
) -> None:
    """Register a partner and print its API key and secret (shown once)."""
    from pydantic import ValidationError

    from dispatch.errors import Problem
    from dispatch.partners.schemas import PartnerCreate
    from dispatch.partners.service import create_partner
    from dispatch.settings import get_settings
    from dispatch.uow import command_unit_of_work

    try:
        data = PartnerCreate(name=name, kind=kind, url=url,
                             events=[e.strip() for e in (events or "").split(",") if e.strip()],
                             region=region, duty_phone=duty_phone)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise typer.BadParameter(err["msg"], param_hint=f"--{err['loc'][0]}".replace("_", "-")
                                 if err["loc"] else None) from None
    settings = get_settings()
    from datetime import UTC, datetime

    with command_unit_of_work() as session:
        try:
            p, key, secret = create_partner(
                session, data, app_secret=settings.resolved_secret_key(), now=datetime.now(UTC))
        except Problem as exc:
            raise typer.BadParameter(exc.detail, param_hint=f"--{exc.field}") from None
        out = {"id": p.id, "api_key": key, "secret": secret}
    if as_json:
        typer.echo(json.dumps(out))
    else:
        console.print(f"partner [bold]{name}[/] ({kind}) id {out['id']}\n"
                      f"API key (shown once): {key}\nsecret (shown once): {secret}")
