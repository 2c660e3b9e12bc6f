"""FastAPI application factory: settings, database, bus, routers, problem+json errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from dispatch.auth.link_router import router as link_router
from dispatch.auth.router import router as auth_router
from dispatch.bus import make_bus
from dispatch.calls import wiring as phone_desk  # issue 15
from dispatch.db import make_engine, session_factory
from dispatch.dispatching.router import router as dispatching_router
from dispatch.elevators.router import router as elevators_router
from dispatch.errors import install_handlers
from dispatch.events import publish_after_commit
from dispatch.hooks import install_event_hooks
from dispatch.incidents.router import router as incidents_router
from dispatch.jobs import JobLoop
from dispatch.live import publish_live_after_commit
from dispatch.mapdata.router import router as geo_router
from dispatch.notifications.webhooks import router as twilio_router
from dispatch.ops.install import install_ops
from dispatch.ops.metrics import forget_this_process
from dispatch.partners.power import announce_power_cuts  # issue 14
from dispatch.partners.router import admin_router as partners_admin_router  # issue 14
from dispatch.partners.router import router as partners_router  # issue 14
from dispatch.planning.router import page_router as coverage_page_router  # issue 17
from dispatch.planning.router import router as planning_router  # issue 17
from dispatch.registry.reports_router import router as expired_maintenance_router
from dispatch.registry.router import router as registry_router  # issue 13: admin API
from dispatch.reports.router import page_router as office_page_router
from dispatch.reports.router import router as reports_router
from dispatch.routing import router_for
from dispatch.security.limits import Limits, RequestGuard
from dispatch.security.logs import install_log_redaction
from dispatch.security.openapi import install_openapi
from dispatch.security.origins import OriginCheck, allowed_origins
from dispatch.security.outage import install_outage_handler
from dispatch.settings import Settings, get_settings
from dispatch.stream.hub import Hub
from dispatch.stream.positions import publish_positions_after_commit
from dispatch.stream.router import router as stream_router
from dispatch.teams.rosters import ensure_at_startup
from dispatch.teams.router import router as teams_router
from dispatch.telemetry import wiring as terminals  # issue 19
from dispatch.telemetry.liveness_router import review_router as terminals_review_router
from dispatch.telemetry.liveness_router import router as liveness_router
from dispatch.telemetry.router import router as telemetry_router
from dispatch.web import router as web_router
from dispatch.web import static_files


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        jobs = None
        if settings.run_jobs:
            router_for(settings)  # load the road graph before the first incident
            ensure_at_startup(app.state.sessionmaker, settings)  # issue 13: roster boundaries
            jobs = JobLoop(app.state.sessionmaker, settings=settings,
                           router=lambda: router_for(settings))
            terminals.add_jobs(jobs, app)  # issue 19: offline sweep and heartbeat flush
            phone_desk.add_jobs(jobs, app)  # issue 15: recording retention
            jobs.every("partner-power-cuts", 30.0, lambda now: announce_power_cuts(
                app.state.sessionmaker, settings=settings, now=now))  # issue 14
            jobs.start()
        app.state.jobs = jobs  # issue 18: /readyz reads its last tick
        mqtt = terminals.start(app)  # issue 19: the MQTT consumer when RESCUE_MQTT_URL is set
        yield
        if jobs is not None:
            jobs.stop()
        terminals.stop(app, mqtt)  # after the jobs: the heartbeat flush uses the store it closes
        await app.state.hub.stop()
        getattr(app.state.bus, "close", lambda: None)()
        engine.dispose()
        forget_this_process()  # issue 18

    app = FastAPI(
        title="elevator-rescue",
        summary="电梯困人应急救援调度 · Elevator entrapment emergency dispatch",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = session_factory(engine)
    install_event_hooks(app.state.sessionmaker)
    app.state.secret_key = settings.resolved_secret_key()
    app.state.bus = make_bus(settings.redis_url, scope=settings.database_url)
    publish_after_commit(app.state.sessionmaker, app.state.bus)
    publish_positions_after_commit(app.state.sessionmaker, app.state.bus)
    terminals.install(app, settings)  # issue 19: liveness store, terminal alert events
    publish_live_after_commit(app.state.sessionmaker, app.state.bus)  # teams, terminals, calls…
    app.state.hub = Hub(app.state.sessionmaker, app.state.bus, fresh_s=settings.gps_fresh_s,
                        poll_s=settings.stream_poll_s)
    install_handlers(app)
    install_ops(app, settings)  # issue 18: /healthz /readyz /metrics, request logs and ids
    install_outage_handler(app)  # issue 12: 503 problem+json while the database is down
    app.add_middleware(RequestGuard, limits=Limits(  # issue 12: body limits, input screening
        default=settings.body_limit_bytes, telemetry=settings.body_limit_telemetry_bytes,
        registry_import=settings.body_limit_registry_import_bytes))
    app.add_middleware(OriginCheck, allowed=allowed_origins(  # issue 12: cross-site writes
        settings.public_base_url, settings.allowed_origins))
    install_openapi(app)  # issue 12: problem+json answers in the OpenAPI document
    install_log_redaction()  # issue 12: no tokens in the access log


    app.include_router(auth_router)
    app.include_router(elevators_router)
    app.include_router(incidents_router)
    app.include_router(dispatching_router)
    app.include_router(telemetry_router)
    app.include_router(liveness_router)  # issue 19
    app.include_router(terminals_review_router)  # issue 19
    app.include_router(stream_router)
    app.include_router(geo_router)
    app.include_router(web_router)
    app.mount("/static", static_files(), name="static")
    app.include_router(reports_router)
    app.include_router(expired_maintenance_router)  # issue 13
    app.include_router(planning_router)  # issue 17
    app.include_router(coverage_page_router)  # issue 17: before /office/{name}
    app.include_router(office_page_router)
    app.include_router(link_router)
    app.include_router(twilio_router)
    app.include_router(teams_router)
    app.include_router(registry_router)  # issue 13: /api/v1/registry (admin page)
    app.include_router(phone_desk.twilio_router)  # issue 15
    app.include_router(phone_desk.router)  # issue 15
    app.include_router(partners_admin_router)  # issue 14
    app.include_router(partners_router)  # issue 14
    return app
