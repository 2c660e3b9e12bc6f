"""Taiyuan fixture generator (pure) and bulk loader (SQLite always, PostGIS when configured).

The generator's rows are what every demo and benchmark runs on, so its promises — determinism,
unique codes, every lift inside its zone, the advertised shares — are checked on the full default
registry (60k + 500; ~1.5 s to generate), not on a toy one.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from dispatch.auth.passwords import verify_password
from dispatch.db import LonLat, make_engine
from dispatch.fixtures.loader import create_demo_users, is_loaded, load_taiyuan
from dispatch.fixtures.taiyuan import (
    OUTER_UNITS,
    URBAN_DISTRICTS,
    Registry,
    generate,
    load_sources,
)
from dispatch.migrate import upgrade
from dispatch.models import Base, Elevator, Organization, Team, User, Zone

PHONE = re.compile(r"^(1[3-9]\d{9}|0351-\d{7})$")
CATEGORIES = {"3110", "3120", "3130", "3310", "3320", "3420", "3430"}


@pytest.fixture(scope="module")
def registry() -> Registry:
    return generate()


def _polygons() -> dict[int, Any]:
    return {i + 1: z.geometry for i, z in enumerate(load_sources().zones)}


# ---- generator ---------------------------------------------------------------------------------


def test_same_seed_same_rows_different_seed_different_rows() -> None:
    a, b, c = generate(1500, seed=7), generate(1500, seed=7), generate(1500, seed=8)
    for table in ("zones", "organizations", "teams", "elevators"):
        assert repr(getattr(a, table)) == repr(getattr(b, table)), table
    assert repr(a.elevators) != repr(c.elevators)
    assert repr(a.organizations) != repr(c.organizations)


def test_zones_are_the_ten_units_with_their_limits(registry: Registry) -> None:
    zones = {z["name"]: z for z in registry.zones}
    assert set(zones) == set(URBAN_DISTRICTS) | set(OUTER_UNITS)
    for name in URBAN_DISTRICTS:
        assert (zones[name]["kind"], zones[name]["arrival_limit_min"]) == ("district", 30)
    for name in OUTER_UNITS:
        assert (zones[name]["kind"], zones[name]["arrival_limit_min"]) == ("county", 60)
    assert zones["小店区"]["code"] == "140105"
    assert all(z["clock_start"] == "received" and z["clock_stop"] == "arrived"
               for z in registry.zones)
    assert shapely.from_geojson(zones["古交市"]["boundary_geojson"]).area > 0


def test_codes_unique_and_well_formed(registry: Registry) -> None:
    rows = registry.elevators
    assert len(rows) == 60_500
    rescue = [e["rescue_code"] for e in rows]
    register = [e["register_code"] for e in rows]
    assert len(set(rescue)) == len(rows) and len(set(register)) == len(rows)
    assert all(re.fullmatch(r"[1-9]\d{5}", c) for c in rescue)
    zone_code = {z["id"]: z["code"] for z in registry.zones}
    for e in rows:
        reg = e["register_code"]
        assert re.fullmatch(r"\d{20}", reg), reg
        assert reg[:4] in CATEGORIES
        assert reg[4:10] == zone_code[e["zone_id"]]
        assert 2000 <= int(reg[10:14]) <= 2025
    orgs = registry.organizations
    assert len({o["code"] for o in orgs}) == len(orgs)
    assert len({t["code"] for t in registry.teams}) == len(registry.teams)
    assert all(PHONE.match(o["phone"]) for o in orgs)
    assert all(PHONE.match(t["phone"]) for t in registry.teams)


def test_every_elevator_inside_its_zone_polygon(registry: Registry) -> None:
    polys = _polygons()
    zone_id = np.array([e["zone_id"] for e in registry.elevators])
    lon = np.array([e["location"].lon for e in registry.elevators])
    lat = np.array([e["location"].lat for e in registry.elevators])
    for zid, geom in polys.items():
        sel = zone_id == zid
        assert shapely.contains_xy(geom, lon[sel], lat[sel]).all(), zid


def test_addresses_name_city_district_number_and_building(registry: Registry) -> None:
    names = {z["id"]: z["name"] for z in registry.zones}
    for e in registry.elevators[::97]:
        assert e["address"].startswith("太原市" + names[e["zone_id"]])
        assert e["address"].endswith("号" + e["building"])
    # most core lifts are addressed on a real OSM road name (the rest on plausible made-up ones)
    osm_names = sorted(set(load_sources().way_names.values()), key=len, reverse=True)
    core = [e["address"] for e in registry.elevators if e["road_node"] is not None][::50]
    on_osm = sum(any(n in a for n in osm_names) for a in core)
    assert on_osm / len(core) > 0.6


def test_core_elevators_near_their_road_node(registry: Registry) -> None:
    src = load_sources()
    pos = {int(n): i for i, n in enumerate(src.node_id)}
    far = 0
    core = [e for e in registry.elevators if e["road_node"] is not None]
    for e in core:
        i = pos[e["road_node"]]
        dx = (e["location"].lon - src.node_lon[i]) * 111_195 * np.cos(np.radians(e["location"].lat))
        dy = (e["location"].lat - src.node_lat[i]) * 111_195
        far += np.hypot(dx, dy) > 2_000
    assert far / len(core) < 0.02


def test_shares(registry: Registry) -> None:
    rows = registry.elevators
    n = len(rows)
    three_no = [e for e in rows if e["three_no"]]
    assert 0.01 <= len(three_no) / n <= 0.02
    assert all(e["maintenance_company_id"] is None and e["use_unit_id"] is None for e in three_no)
    assert all(e["maintenance_company_id"] is not None and e["use_unit_id"] is not None
               for e in rows if not e["three_no"])
    insured = [e for e in rows if e["insurer_id"] is not None]
    assert 0.27 <= len(insured) / n <= 0.33
    assert all(e["policy_no"] for e in insured)
    assert all(e["policy_no"] is None for e in rows if e["insurer_id"] is None)
    site = Counter(e["site_type"] for e in rows)
    assert 0.55 <= site["residential"] / n <= 0.65
    assert set(site) == {"residential", "commercial", "office", "hospital", "school", "transit",
                         "other"}
    assert all(6 <= e["floors"] <= 33 for e in rows)


def test_organization_mix_and_heavy_tailed_market(registry: Registry) -> None:
    kinds = Counter(o["kind"] for o in registry.organizations)
    assert kinds["maintenance_company"] == 80
    assert 1100 <= kinds["use_unit"] <= 1300
    assert kinds["rescue_station"] == 30 and kinds["fire_brigade"] == 6
    assert 3 <= kinds["insurer"] <= 8 and kinds["authority"] == 1
    per_company = Counter(e["maintenance_company_id"] for e in registry.elevators
                          if e["maintenance_company_id"] is not None)
    sizes = sorted(per_company.values(), reverse=True)
    total = sum(sizes)
    assert sum(sizes[:8]) / total > 0.3  # a few large …
    assert np.median(sizes) < total / 80  # … many small
    kind_of = {o["id"]: o["kind"] for o in registry.organizations}
    assert {kind_of[i] for i in per_company} == {"maintenance_company"}


def test_teams_cover_every_company_and_outer_unit(registry: Registry) -> None:
    teams = registry.teams
    assert 250 <= len(teams) <= 350
    orgs = {o["id"]: o for o in registry.organizations}
    by_org = Counter(t["organization_id"] for t in teams)
    for o in orgs.values():
        if o["kind"] in ("maintenance_company", "rescue_station", "fire_brigade"):
            assert by_org[o["id"]] >= 1, o["name"]
    assert max(by_org[o] for o in orgs if orgs[o]["kind"] == "maintenance_company") >= 5
    assert all(1 <= by_org[o] <= 2 for o in orgs if orgs[o]["kind"] == "rescue_station")
    polys = {z["name"]: _polygons()[z["id"]] for z in registry.zones}
    for t in teams:
        assert t["district"] in polys
        assert polys[t["district"]].contains(shapely.Point(*t["base_location"])), t["code"]
    district_teams = Counter(t["district"] for t in teams)
    zone_name = {z["id"]: z["name"] for z in registry.zones}
    outer_elevators = Counter(zone_name[e["zone_id"]] for e in registry.elevators)
    for unit in OUTER_UNITS:
        assert district_teams[unit] >= 3, unit
        assert outer_elevators[unit] >= 1, unit
    assert sum(outer_elevators[u] for u in OUTER_UNITS) == 500
    assert sum(not t["on_duty"] for t in teams) >= 1


# ---- loader ------------------------------------------------------------------------------------


def _check_load(engine: Engine) -> None:
    assert not is_loaded(engine)
    stages: list[str] = []
    report = load_taiyuan(engine, elevators=2000, seed=5,
                          progress=lambda stage, done, total: stages.append(stage))
    expected = generate(2000, seed=5)
    assert report.counts == expected.counts()
    assert {"generate", "zones", "organizations", "teams", "elevators"} <= set(stages)
    assert is_loaded(engine)
    with Session(engine) as s:
        for model, n in ((Zone, 10), (Organization, len(expected.organizations)),
                         (Team, len(expected.teams)), (Elevator, len(expected.elevators))):
            assert s.scalar(select(func.count()).select_from(model)) == n
        first = expected.elevators[0]
        got = s.scalars(select(Elevator).where(Elevator.rescue_code == first["rescue_code"])).one()
        assert isinstance(got.location, LonLat)
        assert got.location.lon == pytest.approx(first["location"].lon, abs=1e-9)
        assert got.location.lat == pytest.approx(first["location"].lat, abs=1e-9)
        assert got.register_code == first["register_code"] and got.address == first["address"]
        team = s.scalars(select(Team).order_by(Team.id)).first()
        assert team is not None and team.base_location == pytest.approx(
            expected.teams[0]["base_location"], abs=1e-9)
        # explicit ids must not break later inserts (PostgreSQL sequences are moved past them)
        s.add(Organization(kind="use_unit", code="HAND-1", name="手工录入物业"))
        s.flush()

        users = create_demo_users(s, password="demo-pw")
        s.commit()
        assert [u for u, _, _ in users] == ["operator1", "supervisor1", "crew1", "office1",
                                            "admin1"]
        again = create_demo_users(s, password="other")
        s.commit()
        assert [u for u, _, _ in again] == [u for u, _, _ in users]
        assert s.scalar(select(func.count()).select_from(User)) == 5
        op = s.scalars(select(User).where(User.username == "operator1")).one()
        assert op.password_hash.startswith("$argon2") and verify_password(op.password_hash,
                                                                          "demo-pw")
        crew = s.scalars(select(User).where(User.username == "crew1")).one()
        assert crew.role == "crew" and crew.team_id is not None
        crew_team = s.get(Team, crew.team_id)
        assert crew_team is not None and crew_team.district in URBAN_DISTRICTS
        company = s.get(Organization, crew.organization_id)
        assert company is not None and company.kind == "maintenance_company"
        assert crew_team.organization_id == company.id
        office = s.scalars(select(User).where(User.username == "office1")).one()
        assert office.role == "office" and office.region_zone_id is None


def test_load_into_migrated_sqlite(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fx.db'}")
    assert not is_loaded(engine)  # unmigrated: no table, not loaded
    upgrade(engine)
    _check_load(engine)
    engine.dispose()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    url = os.environ.get("RESCUE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("RESCUE_TEST_POSTGRES_URL not set")
    engine = make_engine(url)

    def reset() -> None:
        Base.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))

    reset()
    upgrade(engine)
    yield engine
    reset()
    engine.dispose()


@pytest.mark.postgis
def test_load_into_migrated_postgis(pg_engine: Engine) -> None:
    _check_load(pg_engine)
