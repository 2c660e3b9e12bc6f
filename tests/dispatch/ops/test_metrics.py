"""``/metrics`` on both backends: names, labels, what moves them, and who may read them."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from dispatch import timers
from dispatch.models import Incident
from dispatch.notifications.models import Notification
from tests.conftest import Api
from tests.dispatch.ops.helpers import METRICS_TOKEN, scrape, series, value
from tests.dispatch.stream_helpers import connect, recv_until
from tests.dispatch.telemetry.device import ev, register
from tests.dispatch.test_dispatch_api import confirm, new_incident

ROUTE = "/api/v1/incidents/{incident_id}"


def test_a_request_shows_up_in_the_histogram_by_route_template(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    before = scrape(api.client)
    assert api.client.get(f"/api/v1/incidents/{inc}", headers=op).status_code == 200
    assert api.client.get("/api/v1/incidents/999999", headers=op).status_code == 404
    after = scrape(api.client)
    ok = {"method": "GET", "route": ROUTE, "status": "200"}
    assert value(after, "rescue_http_requests_total", **ok) == \
        value(before, "rescue_http_requests_total", **ok) + 1
    assert value(after, "rescue_http_request_duration_seconds_count", **ok) == \
        value(before, "rescue_http_request_duration_seconds_count", **ok) + 1
    assert value(after, "rescue_http_request_duration_seconds_bucket", le="+Inf", **ok) == \
        value(after, "rescue_http_request_duration_seconds_count", **ok)
    assert value(after, "rescue_http_request_duration_seconds_sum", **ok) > \
        value(before, "rescue_http_request_duration_seconds_sum", **ok)
    missing = {"method": "GET", "route": ROUTE, "status": "404"}
    assert value(after, "rescue_http_requests_total", **missing) == \
        value(before, "rescue_http_requests_total", **missing) + 1
    routes = {s["route"] for s in series(after, "rescue_http_requests_total")}
    assert f"/api/v1/incidents/{inc}" not in routes and "/api/v1/incidents/999999" not in routes


def test_an_unknown_path_is_counted_as_unmatched(api: Api) -> None:
    api.client.get("/no/such/page/12345")
    routes = {s["route"] for s in series(scrape(api.client), "rescue_http_requests_total")}
    assert "unmatched" in routes and "/no/such/page/12345" not in routes


def test_a_fired_deadline_counts_in_the_tasks_counter(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    with api.db() as s:
        timers.schedule(s, "callback_due", api.clock.now - timedelta(seconds=30),
                        incident_id=inc)
        s.commit()
    api.client.app.state.ops.clock = api.clock
    before = scrape(api.client)
    # the due task is visible as lag before it fires
    assert value(before, "rescue_jobs_due") == 1
    assert value(before, "rescue_job_loop_lag_seconds") == 30
    assert api.run_jobs() >= 1
    after = scrape(api.client)
    key = {"kind": "callback_due", "result": "done"}
    assert value(after, "rescue_jobs_fired_total", **key) == \
        value(before, "rescue_jobs_fired_total", **key) + 1
    assert value(after, "rescue_job_duration_seconds_count", kind="callback_due") == \
        value(before, "rescue_job_duration_seconds_count", kind="callback_due") + 1
    assert value(after, "rescue_jobs_due") == 0
    assert value(after, "rescue_job_loop_lag_seconds") == 0


def test_dispatch_and_router_time_are_observed(api: Api, net, op) -> None:
    inc = new_incident(api, op, net)
    before = scrape(api.client)
    detail = confirm(api, op, inc)
    assert detail["state"] == "dispatched"
    after = scrape(api.client)
    assert value(after, "rescue_dispatch_decision_seconds_count", outcome="offered") == \
        value(before, "rescue_dispatch_decision_seconds_count", outcome="offered") + 1
    assert value(after, "rescue_router_query_seconds_count", kind="travel_times") >= \
        value(before, "rescue_router_query_seconds_count", kind="travel_times") + 1


def test_database_gauges_count_active_incidents_at_risk_and_the_outbox(api: Api, net,
                                                                        op) -> None:
    first = new_incident(api, op, net)
    with api.db() as s:
        incident = s.get(Incident, first)
        incident.at_risk = True
        s.add(Notification(incident_id=first, channel="sms", recipient_kind="team",
                           to="+8613800000000", template="offer", data={}, status="pending",
                           next_try_at=api.clock.now, created_at=api.clock.now
                           - timedelta(minutes=2)))
        s.commit()
    api.client.app.state.ops.clock = api.clock
    samples = scrape(api.client)
    assert value(samples, "rescue_metrics_database_up") == 1
    assert value(samples, "rescue_incidents_active", state="received") == 1
    assert value(samples, "rescue_incidents_active", state="dispatched") == 0
    assert value(samples, "rescue_incidents_at_risk") == 1
    assert value(samples, "rescue_outbox_backlog", channel="sms") == 1
    assert value(samples, "rescue_outbox_backlog", channel="voice") == 0
    assert value(samples, "rescue_outbox_oldest_age_seconds", channel="sms") == 120
    # sampled before the scrape's own queries: every request's session is closed by now
    assert value(samples, "rescue_db_pool_in_use") == 0
    with api.client.app.state.engine.connect():
        assert value(scrape(api.client), "rescue_db_pool_in_use") == 1


def test_websocket_clients_by_role(api: Api, op) -> None:
    base = value(scrape(api.client), "rescue_websocket_clients", role="operator")
    with connect(api.client, op) as ws:
        recv_until(ws, "ready")
        assert value(scrape(api.client), "rescue_websocket_clients", role="operator") == base + 1
    assert value(scrape(api.client), "rescue_websocket_clients", role="operator") == base


def test_metrics_need_the_token_unless_local(api: Api) -> None:
    r = api.client.get("/metrics")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = api.client.get("/metrics", headers={"Authorization": "Bearer wrong-token"})
    assert r.status_code == 401
    assert api.client.get("/metrics", headers={
        "Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    local = TestClient(api.client.app, client=("127.0.0.1", 50123))
    assert local.get("/metrics").status_code == 200
    # relayed by a proxy on this machine: not local any more
    r = local.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 401


def test_without_a_token_metrics_are_local_only(api: Api) -> None:
    api.client.app.state.settings = api.settings.model_copy(update={"metrics_token": None})
    r = api.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 403 and "RESCUE_METRICS_TOKEN" in r.json()["detail"]


def test_telemetry_events_are_counted_by_outcome(api: Api, net) -> None:
    device = register(api, api.user("admin"), net.elevator_id)
    before = scrape(api.client)
    at = api.clock.now - timedelta(seconds=5)
    body = device.ok([ev("e1", "11", at, floor=3, passenger_present=True)])
    assert body["results"][0]["outcome"] == "created"
    assert device.ok([ev("e1", "11", at, floor=3, passenger_present=True)])["duplicates"] == 1
    after = scrape(api.client)
    assert value(after, "rescue_telemetry_events_total", outcome="created") == \
        value(before, "rescue_telemetry_events_total", outcome="created") + 1
    assert value(after, "rescue_telemetry_events_total", outcome="duplicate") == \
        value(before, "rescue_telemetry_events_total", outcome="duplicate") + 1


def test_pages_and_static_files_are_labelled_by_their_template(api: Api) -> None:
    assert api.client.get("/crew?t=abc").status_code == 200
    assert api.client.get("/static/console.js").status_code == 200
    routes = {s["route"] for s in series(scrape(api.client), "rescue_http_requests_total")}
    assert {"/crew", "/static/{path}"} <= routes
    assert "/static/console.js" not in routes
