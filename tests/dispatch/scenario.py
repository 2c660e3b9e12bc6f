"""A small, real-geometry rescue network in 小店区 for dispatch tests.

Positions are nodes of the real Taiyuan drive graph at known straight-line distances from the
elevator, so road travel times are real and their order is predictable.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from dispatch.db import LonLat
from tests import factories

ELEVATOR_AT = LonLat(112.5653434, 37.8351604)
AT_1KM = LonLat(112.5736801, 37.8408004)
AT_2KM = LonLat(112.5487370, 37.8475799)
AT_3KM = LonLat(112.5309639, 37.8365148)
AT_4KM = LonLat(112.5324225, 37.8601310)
AT_6KM = LonLat(112.5638956, 37.8890598)


@dataclass
class Scenario:
    elevator_id: int
    rescue_code: str
    company_id: int
    a_near: int      # level 1, 2 km
    a_far: int       # level 1, 4 km
    b_near: int      # level 2 (other company), 1 km
    station: int     # level 2 (rescue station), 3 km
    fire: int        # level 3, 6 km


def build(session: Session) -> Scenario:
    company = factories.make_org(session, name="并州电梯维保有限公司")
    other = factories.make_org(session, name="龙城电梯工程有限公司")
    station_org = factories.make_org(session, "rescue_station", name="小店区电梯应急救援站")
    fire_org = factories.make_org(session, "fire_brigade", name="太原市消防救援支队小店中队")
    elevator = factories.make_elevator(session, rescue_code="250001", location=ELEVATOR_AT,
                                       maintenance_company_id=company.id)
    teams = {
        "a_near": factories.make_team(session, organization=company, name="并州一组",
                                      base_location=AT_2KM),
        "a_far": factories.make_team(session, organization=company, name="并州二组",
                                     base_location=AT_4KM),
        "b_near": factories.make_team(session, organization=other, name="龙城一组",
                                      base_location=AT_1KM),
        "station": factories.make_team(session, organization=station_org, name="救援站一组",
                                       base_location=AT_3KM),
        "fire": factories.make_team(session, organization=fire_org, name="消防小店中队",
                                    base_location=AT_6KM),
    }
    session.flush()
    return Scenario(elevator.id, elevator.rescue_code, company.id,
                    **{k: t.id for k, t in teams.items()})
