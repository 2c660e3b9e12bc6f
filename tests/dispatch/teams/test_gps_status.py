"""``POST /api/v1/teams/{id}/gps-status`` (issue 16 item 7): the crew phone says it cannot get
a position; the console's team list shows it until a fix arrives."""

from __future__ import annotations

from sqlalchemy import select

from dispatch.teams.models import TeamEvent
from tests.conftest import Api
from tests.dispatch.stream_helpers import connect, recv, recv_until


def team_row(api: Api, headers: dict[str, str], team_id: int) -> dict[str, object]:
    rows = api.client.get("/api/v1/teams", headers=headers).json()
    return next(r for r in rows if r["id"] == team_id)


def test_denied_location_is_shown_to_the_console_until_a_fix(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near, username="crew-gps")
    op = api.user("operator")
    assert team_row(api, op, net.a_near)["gps_status"] is None
    r = api.client.post(f"/api/v1/teams/{net.a_near}/gps-status", headers=crew,
                        json={"state": "denied"})
    assert r.status_code == 200, r.text
    assert r.json()["gps_status"] == "denied"
    # the same report twice is one team event
    api.client.post(f"/api/v1/teams/{net.a_near}/gps-status", headers=crew,
                    json={"state": "denied"})
    row = team_row(api, op, net.a_near)
    assert row["gps_status"] == "denied" and row["gps_status_at"] is not None
    with api.db() as s:
        types = list(s.scalars(select(TeamEvent.type).where(TeamEvent.team_id == net.a_near)))
    assert types == ["gps_denied"]
    # a fix afterwards clears it
    api.clock.advance(seconds=30)
    r = api.client.post(f"/api/v1/teams/{net.a_near}/position", headers=crew,
                        json={"lon": 112.55, "lat": 37.85, "accuracy_m": 10})
    assert r.status_code == 200, r.text
    assert team_row(api, op, net.a_near)["gps_status"] is None


def test_gps_status_is_for_the_own_team_and_checked(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near, username="crew-gps2")
    r = api.client.post(f"/api/v1/teams/{net.a_far}"
                        "/gps-status", headers=crew, json={"state": "denied"})
    assert r.status_code == 404
    r = api.client.post(f"/api/v1/teams/{net.a_near}/gps-status", headers=crew,
                        json={"state": "sharing"})
    assert r.status_code == 422 and "state" in r.text
    op = api.user("operator")
    r = api.client.post(f"/api/v1/teams/{net.a_near}/gps-status", headers=op,
                        json={"state": "denied"})
    assert r.status_code == 403


def test_the_console_learns_it_live(api: Api, net) -> None:
    crew = api.user("crew", team_id=net.a_near, username="crew-gps3")
    op = api.user("operator")
    with connect(api.client, op) as ws:
        recv(ws)
        recv_until(ws, "ready")
        r = api.client.post(f"/api/v1/teams/{net.a_near}/gps-status", headers=crew,
                            json={"state": "unavailable"})
        assert r.status_code == 200, r.text
        msg = recv(ws)
        assert msg["type"] == "team_gps" and msg["team_id"] == net.a_near
        assert msg["data"]["state"] == "unavailable"
        assert msg["team"]["gps_status"] == "unavailable"
