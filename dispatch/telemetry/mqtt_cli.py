"""``rescue mqtt consume``: the MQTT consumer alone, without the HTTP server (issue 19)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

mqtt_app = typer.Typer(help="MQTT ingestion of terminal events and heartbeats.",
                       no_args_is_help=True)
console = Console()


@mqtt_app.command("consume")
def consume(
    client_id: Annotated[str | None, typer.Option(
        help="Session client id (default: RESCUE_MQTT_CLIENT_ID or rescue-<host>, plus a "
             "slot number)")] = None,
    lanes: Annotated[str | None, typer.Option(
        help="events, heartbeat, judge, comma-separated (default RESCUE_MQTT_LANES): e.g. a "
             "process for heartbeats alone")] = None,
) -> None:
    """Consume RESCUE_MQTT_URL's shared subscription until Ctrl+C / SIGTERM (same checks,
    batching and storage as the consumer inside the server; more processes share the load)."""
    from dispatch.app import create_app
    from dispatch.settings import get_settings, parse_mqtt_lanes
    from dispatch.telemetry import liveness
    from dispatch.telemetry.mqtt import MqttConsumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    if not settings.mqtt_url:
        console.print("[red]RESCUE_MQTT_URL is not set[/]")
        raise typer.Exit(2)
    if lanes is not None:
        try:
            settings = settings.model_copy(update={"mqtt_lanes": parse_mqtt_lanes(lanes)})
        except ValueError as exc:
            console.print(f"[red]--lanes: {exc}[/]")
            raise typer.Exit(2) from exc
    app = create_app(settings)  # the same session factory hooks and bus as the server
    liveness.seed_store(app.state.sessionmaker, app.state.liveness)
    consumer = MqttConsumer(app.state.sessionmaker, app.state.liveness, settings=settings,
                            app_secret=app.state.secret_key, client_id=client_id)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    consumer.start()
    console.print(f"consuming {settings.mqtt_url} as {consumer.client_id}")
    done.wait()
    consumer.stop()
    console.print(f"stopped; {consumer.stats.snapshot()}")
