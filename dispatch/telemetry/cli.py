"""``rescue devices``: register telemetry terminals (issue 7)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

devices_app = typer.Typer(help="Telemetry terminals (devices) and their secrets.",
                          no_args_is_help=True)
console = Console()


@devices_app.command("add")
def devices_add(
    elevator: Annotated[int, typer.Option("--elevator", help="Elevator id the terminal is in.")],
    device_id: Annotated[str | None, typer.Option(help="Vendor's device id (default: "
                                                  "generated).")] = None,
    label: Annotated[str | None, typer.Option(help="Free text (vendor, model).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print {device_id, secret} as "
                                          "JSON.")] = False,
) -> None:
    """Register a terminal to an elevator and print its secret (shown once)."""
    from dispatch.errors import Problem
    from dispatch.settings import get_settings
    from dispatch.telemetry.service import add_device
    from dispatch.uow import command_unit_of_work

    settings = get_settings()
    with command_unit_of_work() as session:
        try:
            device, secret = add_device(session, elevator_id=elevator, device_id=device_id,
                                        label=label, app_secret=settings.resolved_secret_key())
        except Problem as exc:
            hint = "--elevator" if exc.field == "elevator_id" else "--device-id"
            raise typer.BadParameter(exc.detail, param_hint=hint) from None
        out = {"device_id": device.id, "secret": secret, "elevator_id": device.elevator_id}
    if as_json:
        typer.echo(json.dumps(out))
    else:
        console.print(f"device [bold]{out['device_id']}[/] on elevator {elevator}\n"
                      f"secret (shown once, keep it in the terminal): {secret}")
