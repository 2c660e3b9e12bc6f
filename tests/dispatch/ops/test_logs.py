"""Log lines: JSON, one per request and per job, with the request id, and scrubbed."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from dispatch import timers
from dispatch.auth.passwords import hash_password
from dispatch.ops import logs
from dispatch.ops.context import request_id_from
from tests import factories
from tests.conftest import Api
from tests.dispatch.test_dispatch_api import new_incident

PHONE = "13912345678"
SECRET_PASSWORD = "Sup3r-Secret-Pass!"


@pytest.fixture
def captured(api: Api) -> Iterator[io.StringIO]:
    """What the app's real root handler writes, as JSON, from here on."""
    handler = logs.configure("json")
    buf = io.StringIO()
    old = handler.setStream(buf)  # type: ignore[attr-defined]
    yield buf
    handler.setStream(old)  # type: ignore[attr-defined]


def lines(buf: io.StringIO) -> list[dict]:
    out = []
    for raw in buf.getvalue().splitlines():
        out.append(json.loads(raw))  # every line is one JSON object
    return out


def test_one_json_line_per_request_with_route_user_and_incident(api: Api, net, op,
                                                                captured: io.StringIO) -> None:
    inc = new_incident(api, op, net)
    r = api.client.get(f"/api/v1/incidents/{inc}", headers={**op, "X-Request-ID": "desk-7.1"})
    assert r.status_code == 200 and r.headers["x-request-id"] == "desk-7.1"
    [line] = [x for x in lines(captured) if x.get("request_id") == "desk-7.1"]
    assert line["logger"] == "rescue.http" and line["level"] == "info"
    assert line["route"] == "/api/v1/incidents/{incident_id}" and line["status"] == 200
    assert line["method"] == "GET" and line["incident_id"] == inc
    assert line["role"] == "operator" and isinstance(line["user_id"], int)
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["time"].endswith("+00:00")


def test_request_id_is_generated_and_put_in_problem_bodies(api: Api, op) -> None:
    r = api.client.get("/api/v1/incidents/999999", headers=op)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    rid = r.headers["x-request-id"]
    assert len(rid) == 32 and r.json()["request_id"] == rid
    r = api.client.post("/api/v1/incidents", headers={**op, "X-Request-ID": "bad id\nforged"},
                        json={"channel": "call"})
    assert r.status_code == 422 and r.json()["request_id"] == r.headers["x-request-id"]
    assert "forged" not in r.headers["x-request-id"]


def test_a_job_logs_one_json_line(api: Api, net, op, captured: io.StringIO) -> None:
    inc = new_incident(api, op, net)
    with api.db() as s:
        timers.schedule(s, "callback_due", api.clock.now - timedelta(seconds=2), incident_id=inc)
        s.commit()
    api.run_jobs()
    [line] = [x for x in lines(captured) if x.get("job") == "callback_due"]
    assert line["logger"] == "rescue.jobs" and line["result"] == "done"
    assert line["incident_id"] == inc and line["lag_ms"] == 2000.0
    assert "task_id" in line and line["duration_ms"] >= 0


def test_tokens_passwords_and_phones_never_reach_the_log(api: Api, net, captured: io.StringIO
                                                          ) -> None:
    with api.db() as s:
        user = factories.make_user(s, "operator", username="wang")
        user.password_hash = hash_password(SECRET_PASSWORD)
        s.commit()
    r = api.client.post("/api/v1/auth/token",
                        data={"username": "wang", "password": SECRET_PASSWORD})
    assert r.status_code == 200
    token = r.json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    r = api.client.post("/api/v1/incidents", headers=auth, json={
        "rescue_code": net.rescue_code, "channel": "call", "caller_phone": PHONE})
    assert r.status_code == 201
    api.client.get(f"/api/v1/incidents?token={token}&q={PHONE}", headers=auth)
    api.client.post("/api/v1/auth/token", data={"username": "wang", "password": "wrong-pass-1"})
    # what a careless library or a traceback might say
    log = logging.getLogger("some.library")
    log.warning("retrying POST https://x.example/send?To=%s&token=%s password=%s", PHONE,
                token, SECRET_PASSWORD)
    log.warning('body {"password": "%s", "phone": "+86%s"}', SECRET_PASSWORD, PHONE)
    try:
        raise RuntimeError(f"Authorization: Bearer {token} for {PHONE}")
    except RuntimeError:
        log.exception("request failed")
    text = captured.getvalue()
    parsed = lines(captured)
    assert any(x.get("route") == "/api/v1/incidents" and x.get("status") == 201 for x in parsed)
    assert any(x.get("logger") == "some.library" and "exc" in x for x in parsed)
    for secret in (token, token.split(".")[2], SECRET_PASSWORD, "wrong-pass-1", PHONE):
        assert secret not in text, secret
    assert "139****5678" in text  # masked, so the line still says which caller


def test_a_scrubbed_json_line_stays_json() -> None:
    path = "/api/v1/stream?token=eyJabcdefgh.abcdefgh.abcdefgh"
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" [accepted]', ("127.0.0.1:5", path), None)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["msg"] == '127.0.0.1:5 - "WebSocket /api/v1/stream?token=[redacted]" [accepted]'


def test_text_format_for_a_terminal_is_scrubbed_too() -> None:
    record = logging.LogRecord("rescue.http", logging.INFO, __file__, 1,
                               "GET %s 200", ("/crew?t=abcdefghijklmnop",), None)
    record.user_id = 5
    line = logs.TextFormatter().format(record)
    assert "rescue.http" in line and "GET /crew?t=[redacted] 200" in line and "user_id=5" in line


@pytest.mark.parametrize(("raw", "clean"), [
    ("Bearer abc.def-ghi_jkl", "Bearer [redacted]"),
    ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "[token]"),
    ("password=hunter22&user=x", "password=[redacted]&user=x"),
    ('{"secret_key": "abc\\"def", "n": 1}', '{"secret_key": "[redacted]", "n": 1}'),
    ("rescue_token=abcdef; path=/", "rescue_token=[redacted]; path=/"),
    ("call +8613912345678 now", "call +86139****5678 now"),
    ("call 139 1234 5678 now", "call 139****5678 now"),
    ("desk 0351-7654321", "desk 035****4321"),
    ("incident 12345 at 2026-11-30T08:30:00+00:00 took 15.2 ms", None),
    ("at=1 data=2", None),
    ('"WebSocket /api/v1/stream?token=abc.def\\" [accepted]"',
     '"WebSocket /api/v1/stream?token=[redacted]\\" [accepted]"'),
])
def test_scrub(raw: str, clean: str | None) -> None:
    assert logs.scrub(raw) == (raw if clean is None else clean)


def test_request_ids_from_callers_are_kept_only_when_sane() -> None:
    assert request_id_from("abc-123.X_y:z") == "abc-123.X_y:z"
    assert len(request_id_from("x" * 65)) == 32
    assert len(request_id_from('"><script>')) == 32
    assert request_id_from(None) != request_id_from(None)


def test_uvicorn_config_has_no_access_log() -> None:
    cfg = logs.uvicorn_log_config("json")
    assert cfg["loggers"]["uvicorn.access"]["handlers"] == []
    assert cfg["formatters"]["ops"]["()"].endswith("JsonFormatter")
    assert logs.uvicorn_log_config("text")["formatters"]["ops"]["()"].endswith("TextFormatter")
