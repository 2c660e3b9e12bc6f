"""Issue 16 #2: the choose-team list — the rule's candidates first, then every free team with
its company and road ETA, searchable; operators and supervisors only."""

from __future__ import annotations

from tests.conftest import Api
from tests.dispatch import scenario
from tests.dispatch.test_dispatch_api import confirm, new_incident


def test_candidates_first_then_every_free_team_with_company_and_eta(
        api: Api, net: scenario.Scenario, op: dict[str, str]) -> None:
    inc = new_incident(api, op, net)
    r = api.client.get(f"/api/v1/incidents/{inc}/teams", headers=op)
    assert r.status_code == 200, r.text
    body = r.json()
    ranked = body["ranked"]
    assert ranked[0]["team_id"] == net.a_near and ranked[0]["rule_choice"]
    assert ranked[0]["makes_deadline"] and ranked[0]["eta_s"] > ranked[0]["travel_s"] > 0
    assert ranked[0]["reason"] and ranked[0]["company"]
    assert {t["team_id"] for t in ranked} <= {t["team_id"] for t in body["teams"]}
    teams = body["teams"]
    assert body["total"] == len(teams) == 5
    etas = [t["eta_s"] for t in teams]
    assert etas == sorted(etas)  # fastest first
    assert all(t["company"] and t["team_code"] for t in teams)

    # search: by company name words, by team name
    company = next(t["company"] for t in teams if t["team_id"] == net.b_near)
    found = api.client.get(f"/api/v1/incidents/{inc}/teams", params={"q": company},
                           headers=op).json()
    assert net.b_near in [t["team_id"] for t in found["teams"]]
    assert found["total"] < 5 and all(t["company"] == company for t in found["teams"])
    none = api.client.get(f"/api/v1/incidents/{inc}/teams", params={"q": "没有这个队"},
                          headers=op).json()
    assert none["teams"] == [] and none["total"] == 0 and none["ranked"]

    # once offered, the offered team is no longer free and leaves both lists
    confirm(api, op, inc)
    after = api.client.get(f"/api/v1/incidents/{inc}/teams", headers=op).json()
    assert net.a_near not in [t["team_id"] for t in after["teams"] + after["ranked"]]

    sup = api.user("supervisor")
    assert api.client.get(f"/api/v1/incidents/{inc}/teams", headers=sup).status_code == 200
    for role in ("crew", "office"):
        got = api.client.get(f"/api/v1/incidents/{inc}/teams", headers=api.user(role))
        assert got.status_code == 403, role
    assert api.client.get("/api/v1/incidents/999999/teams", headers=op).status_code == 404
