"""Issue 12 findings on authentication: throttling and its audit, token revocation, ``?token=``,
malformed tokens, single-use crew links, origins, the Secure cookie (both backends)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import jwt

from dispatch.auth.links import issue_link_token
from dispatch.security.logs import RedactTokens
from tests import factories
from tests.conftest import Api
from tests.dispatch import scenario

SECRET = "test-secret-key-not-for-production-0123456789"


def login(api: Api, username: str, password: str):
    return api.client.post("/api/v1/auth/token", data={"username": username,
                                                       "password": password})


def test_five_failures_lock_the_username_for_15_minutes_and_admins_see_them(api: Api) -> None:
    admin = api.user("admin")
    with api.db() as s:
        u = factories.make_user(s, "operator", username="wang")
        s.commit()
        assert u.id
    for _ in range(5):
        assert login(api, "wang", "wrong").status_code == 401
    r = login(api, "wang", factories.PASSWORD)  # even the right password waits
    assert r.status_code == 429 and r.headers["content-type"].startswith("application/problem")
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60 and r.json()["field"] == "username"
    api.clock.advance(minutes=15, seconds=1)
    assert login(api, "wang", factories.PASSWORD).status_code == 200
    api.client.cookies.clear()
    rows = api.client.get("/api/v1/auth/failed-logins?username=wang", headers=admin).json()
    assert [r["outcome"] for r in rows] == ["throttled"] + ["failed"] * 5
    assert rows[0]["address"] == "testclient"
    op = api.login("wang")
    assert api.client.get("/api/v1/auth/failed-logins", headers=op).status_code == 403


def test_one_address_is_throttled_over_any_usernames(api: Api) -> None:
    for i in range(api.settings.login_max_failures_per_address):
        assert login(api, f"nobody{i}", "x").status_code == 401
    r = login(api, "someone-else", "x")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_unknown_users_are_checked_against_a_dummy_hash(api: Api, monkeypatch) -> None:
    from dispatch.auth import passwords

    seen = []
    real = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password",
                        lambda h, p: seen.append(h) or real(h, p))
    assert login(api, "ghost", "x").status_code == 401
    assert seen == [passwords.dummy_hash()]


def test_logout_and_password_change_revoke_tokens(api: Api) -> None:
    op = api.user("operator", username="li")
    assert api.client.get("/api/v1/auth/me", headers=op).status_code == 200
    assert api.client.post("/api/v1/auth/logout", headers=op).status_code == 204
    r = api.client.get("/api/v1/auth/me", headers=op)
    assert r.status_code == 401 and r.json()["title"] == "Token revoked"
    op = api.login("li")
    r = api.client.post("/api/v1/auth/password", headers=op,
                        json={"current_password": "bad", "new_password": "new-password-9"})
    assert r.status_code == 403 and r.json()["field"] == "current_password"
    r = api.client.post("/api/v1/auth/password", headers=op, json={
        "current_password": factories.PASSWORD, "new_password": "new-password-9"})
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    api.client.cookies.clear()
    assert api.client.get("/api/v1/auth/me", headers=op).status_code == 401
    assert api.client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    assert login(api, "li", "new-password-9").status_code == 200


def test_query_token_only_on_the_websocket_and_never_logged(api: Api) -> None:
    op = api.user("operator")
    token = op["Authorization"][7:]
    r = api.client.get(f"/api/v1/auth/me?token={token}")
    assert r.status_code == 401
    with api.client.websocket_connect(f"/api/v1/stream?token={token}") as ws:
        assert ws.receive_json()["type"] == "snapshot"
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s"',
                               ("1.2.3.4", "GET", f"/api/v1/stream?token={token}&since=3"), None)
    RedactTokens().filter(record)
    assert token not in record.getMessage() and "token=[redacted]&since=3" in record.getMessage()


def test_tokens_with_a_missing_or_odd_sub_are_401(api: Api) -> None:
    now = datetime.now(UTC)
    for sub in (None, "abc", "99999999999999999999", "١٢"):
        claims = {"scope": "session", "exp": int((now + timedelta(hours=1)).timestamp())}
        if sub is not None:
            claims["sub"] = sub
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        r = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, (sub, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def _offer(api: Api, op: dict[str, str], net: scenario.Scenario) -> tuple[int, int]:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": net.rescue_code, "channel": "call"})
    inc = r.json()["id"]
    r = api.client.post(f"/api/v1/incidents/{inc}/confirm", headers=op)
    assert r.status_code == 200, r.text
    return inc, r.json()["assignments"][-1]["id"]


def test_crew_links_are_single_use_bound_to_their_assignment_and_capped(api: Api, op,
                                                                       net) -> None:
    _inc, aid = _offer(api, op, net)
    now = datetime.now(UTC)
    link = issue_link_token(secret=SECRET, team_id=net.a_near, assignment_id=aid, now=now,
                            ttl_min=120)
    api.client.cookies.clear()
    r = api.client.post("/api/v1/auth/link", json={"token": link})
    assert r.status_code == 200, r.text
    assert r.json()["expires_in"] <= 120 * 60  # not the 12-hour session
    crew = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert api.client.get("/api/v1/assignments/mine", headers=crew).status_code == 200
    again = api.client.post("/api/v1/auth/link", json={"token": link})
    assert again.status_code == 401 and again.json()["title"] == "Link already used"
    other_team = issue_link_token(secret=SECRET, team_id=net.b_near, assignment_id=aid,
                                  now=now, ttl_min=120)
    assert api.client.post("/api/v1/auth/link", json={"token": other_team}).status_code == 401
    no_asg = issue_link_token(secret=SECRET, team_id=net.a_near, assignment_id=None, now=now,
                              ttl_min=120)
    assert api.client.post("/api/v1/auth/link", json={"token": no_asg}).status_code == 401
    api.client.cookies.clear()
    r = api.client.post(f"/api/v1/assignments/{aid}/cancel", headers=op,
                        json={"reason": "caller rang back: freed"})
    assert r.status_code == 200, r.text
    late = issue_link_token(secret=SECRET, team_id=net.a_near, assignment_id=aid, now=now,
                            ttl_min=120)
    r = api.client.post("/api/v1/auth/link", json={"token": late})
    assert r.status_code == 401 and r.json()["title"] == "Link no longer valid"
    r = api.client.get("/api/v1/assignments/mine", headers=crew)  # the session ended with it
    assert r.status_code == 401 and r.json()["title"] == "Crew link session ended"


def test_cookie_writes_and_the_websocket_check_the_origin(api: Api, op, net) -> None:
    r = api.client.post("/api/v1/incidents", headers=op,
                        json={"rescue_code": net.rescue_code, "channel": "call"})
    inc = r.json()["id"]
    cookie = op["Authorization"][7:]
    api.client.cookies.set("rescue_token", cookie)
    r = api.client.post(f"/api/v1/incidents/{inc}/confirm",
                        headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["field"] == "Origin"
    with api.db() as s:
        from dispatch.models import Incident
        assert s.get(Incident, inc).state == "received"  # nothing happened
    import pytest
    from starlette.websockets import WebSocketDisconnect
    with pytest.raises(WebSocketDisconnect), api.client.websocket_connect(
            "/api/v1/stream", headers={"Origin": "http://evil.example"}) as ws:
        ws.receive_json()
    with api.client.websocket_connect("/api/v1/stream",
                                      headers={"Origin": "http://127.0.0.1:8000"}) as ws:
        assert ws.receive_json()["type"] == "snapshot"
    r = api.client.post(f"/api/v1/incidents/{inc}/confirm",
                        headers={"Origin": "http://testserver"})  # our own pages
    assert r.status_code == 200, r.text
    api.client.cookies.clear()


def test_cookie_is_secure_when_the_public_url_is_https(api: Api) -> None:
    from dispatch.auth.router import cookie_secure

    assert cookie_secure(api.settings) is False
    https = api.settings.model_copy(update={"public_base_url": "https://rescue.example.cn"})
    assert cookie_secure(https) is True
    forced = api.settings.model_copy(update={"cookie_secure": True})
    assert cookie_secure(forced) is True
    api.user("operator", username="zhao")
    r = login(api, "zhao", factories.PASSWORD)
    assert "secure" not in r.headers["set-cookie"].lower()
    assert "httponly" in r.headers["set-cookie"].lower()
