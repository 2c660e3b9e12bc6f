"""Issue 16 #5: lifts at one address are told apart (number and count), and a code that matches
nothing has its near codes, with what the console needs to offer them."""

from __future__ import annotations

from tests import factories
from tests.conftest import Api


def test_lookup_numbers_the_lifts_at_one_address_and_near_codes_offer_them(api: Api) -> None:
    with api.db() as s:
        for code, reg in (("160002", "31101401052020000202"), ("160001", "31101401052020000201")):
            factories.make_elevator(s, rescue_code=code, register_code=reg,
                                    building="天和苑5号楼", address="太原市小店区平阳路天和苑5号楼")
        factories.make_elevator(s, rescue_code="160100", address="太原市小店区平阳路9号")
        s.commit()
    op = api.user("operator")
    one = api.client.get("/api/v1/elevators/lookup", params={"q": "160002"}, headers=op).json()
    assert [(e["lift_no"], e["lifts_at_address"]) for e in one] == [(2, 2)]  # register order
    alone = api.client.get("/api/v1/elevators/lookup", params={"q": "160100"}, headers=op).json()
    assert (alone[0]["lift_no"], alone[0]["lifts_at_address"]) == (1, 1)

    r = api.client.get("/api/v1/elevators/near-codes", params={"q": "160003"}, headers=op)
    assert r.status_code == 200, r.text
    assert [(e["rescue_code"], e["lift_no"]) for e in r.json()] == [("160001", 1), ("160002", 2)]
    assert api.client.get("/api/v1/elevators/near-codes", params={"q": "abc"},
                          headers=op).json() == []
    crew = api.user("crew")
    assert api.client.get("/api/v1/elevators/near-codes", params={"q": "160003"},
                          headers=crew).status_code == 403
