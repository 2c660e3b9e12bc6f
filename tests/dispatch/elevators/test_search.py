"""The indexed lookup answers what the LIKE scan answered, on SQLite (FTS5) and PostGIS (pg_trgm).

The sample is a generated Taiyuan registry of 3,000 elevators loaded the way the fixtures and
the importer load it (Core ``executemany``), so the triggers of migration 0006 are what fills the
SQLite index here; queries are cut from real addresses and buildings in every length from one
character up, alone and in pairs.
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from dispatch.elevators import search
from dispatch.elevators.service import lookup_elevators
from dispatch.fixtures.loader import load_registry
from dispatch.fixtures.taiyuan import Registry, generate
from dispatch.models import Elevator
from tests import factories


@cache
def _registry() -> Registry:
    return generate(3_000, 7)


def _queries(reg: Registry, n: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        e = reg.elevators[rng.randrange(len(reg.elevators))]
        source = e["address"] if rng.random() < 0.7 or not e["building"] else e["building"]
        k = rng.choice([1, 2, 2, 2, 3, 4, 5, 7])
        i = rng.randrange(max(1, len(source) - k + 1))
        word = source[i:i + k]
        if rng.random() < 0.35:  # a second word from the same elevator
            other = e["address"]
            j = rng.randrange(max(1, len(other) - 2))
            word = f"{word} {other[j:j + rng.choice([1, 2, 3, 4])]}"
        out.append(word)
    return [*out, "太原市", "小店", "阳曲", "清徐", "号楼", "2号", "府", "不存在的路", "1"]


@pytest.fixture
def sample(db: sessionmaker[Session], engine: Engine) -> sessionmaker[Session]:
    load_registry(engine, _registry())
    return db


def test_indexed_search_gives_the_like_answer(sample: sessionmaker[Session]) -> None:
    exact = broad = 0
    with sample() as s:
        for q in _queries(_registry(), 150):
            words = search.split_words(q)
            got = search.search_ids(s, words, limit=20)
            everything = search.like_lookup_ids(s, words, limit=search.SCAN_CAP + 1)
            if len(everything) <= search.SCAN_CAP:
                assert got == everything[:20], q
                exact += 1
            else:  # broad: 20 true matches, sorted by address (module docstring)
                assert len(got) == 20, q
                ok = search.like_lookup_ids(s, words, limit=10**6)
                assert set(got) <= set(ok), q
                rows = dict(s.execute(text("SELECT id, address FROM elevator")).all())
                assert [rows[i] for i in got] == sorted(rows[i] for i in got), q
                broad += 1
    assert exact > 100 and broad >= 3  # both regimes were exercised


def test_index_follows_inserts_updates_and_deletes(session: Session) -> None:
    e = factories.make_elevator(session, address="太原市小店区龙城大街88号", building="A座")
    session.commit()
    words = ["龙城大街", "A座"]
    assert search.search_ids(session, words, limit=20) == [e.id]
    # a building of two characters that the address does not contain is still found
    assert search.search_ids(session, ["A座"], limit=20) == [e.id]
    e.address = "太原市小店区长风街7号"
    session.commit()
    assert search.search_ids(session, ["龙城大街"], limit=20) == []
    assert search.search_ids(session, ["长风街", "A座"], limit=20) == [e.id]
    assert search.search_ids(session, ["风街"], limit=20) == [e.id]  # new short word
    session.delete(e)
    session.commit()
    assert search.search_ids(session, ["长风街"], limit=20) == []
    assert search.search_ids(session, ["风街"], limit=20) == []


def test_ascii_case_like_like(session: Session, engine: Engine) -> None:
    e = factories.make_elevator(session, address="太原市迎泽区柳巷99号", building="B座Tower")
    session.commit()
    # LIKE folds ASCII case on SQLite and not on PostgreSQL; the search does what LIKE does
    for words in (["b座"], ["tower"], ["TOWER", "柳巷"], ["b"]):
        assert search.search_ids(session, words, limit=20) == search.like_lookup_ids(
            session, words, limit=20)
    assert search.search_ids(session, ["B座"], limit=20) == [e.id]
    if engine.dialect.name == "sqlite":
        assert search.search_ids(session, ["b座"], limit=20) == [e.id]


def test_query_syntax_is_never_interpreted(session: Session) -> None:
    e = factories.make_elevator(session, address='太原市小店区"星河"湾1号 50%_off', building="")
    session.commit()
    for words in (['"星河"湾'], ['"'], ["50%"], ["%_"], ["OR"], ["NEAR("], ["*"]):
        assert search.search_ids(session, words, limit=20) == search.like_lookup_ids(
            session, words, limit=20), words
    assert search.search_ids(session, ['"星河"'], limit=20) == [e.id]
    assert search.search_ids(session, ["50%_"], limit=20) == [e.id]


def test_lookup_keeps_exact_codes_first(session: Session) -> None:
    a = factories.make_elevator(session, rescue_code="140777", address="太原市小店区140888路")
    b = factories.make_elevator(session, rescue_code="140888", address="太原市小店区平阳路1号")
    session.commit()
    assert [e.id for e in lookup_elevators(session, "140888")] == [b.id]
    assert [e.id for e in lookup_elevators(session, "140888路")] == [a.id]
    assert [e.id for e in lookup_elevators(session, a.register_code)] == [a.id]


def test_fts_drives_the_sqlite_plan_and_trigram_indexes_the_postgres_one(
        session: Session, engine: Engine) -> None:
    factories.make_elevator(session)
    session.commit()
    words = ["阳光小区", "测试路"]
    stmt = search._candidates(session, words)
    assert stmt is not None
    compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
    if engine.dialect.name == "sqlite":
        plan = " | ".join(r[-1] for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        assert plan.startswith("SCAN elevator_search VIRTUAL TABLE"), plan
        assert "SEARCH elevator USING INTEGER PRIMARY KEY" in plan, plan
        assert session.scalar(text("SELECT count(*) FROM elevator_search_gram")) > 10
    else:
        # tiny tables are cheaper to scan; forbid that to see which index the query can use
        session.execute(text("SET LOCAL enable_seqscan = off"))
        session.execute(text("SET LOCAL enable_indexscan = off"))
        plan = "\n".join(r[0] for r in session.execute(text(f"EXPLAIN {compiled}")))
        assert "ix_elevator_address_trgm" in plan and "ix_elevator_building_trgm" in plan, plan
        session.rollback()


def test_elevator_count_is_what_was_loaded(sample: sessionmaker[Session]) -> None:
    with sample() as s:
        n = s.query(Elevator).count()
        assert n == len(_registry().elevators)
        if s.get_bind().dialect.name == "sqlite":
            # every elevator is in the full-text index exactly once
            assert s.scalar(text("SELECT count(*) FROM elevator_search WHERE elevator_search "
                                 "MATCH '\"太原市\"'")) == n


def _two_word_queries(reg: Registry, n: int, seed: int = 11) -> list[list[str]]:
    """Pairs the way operators type them: district + estate, road + house number, two short."""
    rng = random.Random(seed)
    out: list[list[str]] = []
    for _ in range(n):
        e = reg.elevators[rng.randrange(len(reg.elevators))]
        street = e["address"].removeprefix("太原市")
        estate = (e["building"] or street)[:4]
        road = street.split("号", 1)[0][:-2] or street[:4]
        out.append(rng.choice([[street[:2], estate], [road, street[-4:]],
                               [street[:2], estate[:2]], [estate, street[:3]]]))
    return out


def test_two_word_queries_give_the_like_answer_on_both_backends(
        sample: sessionmaker[Session]) -> None:
    checked = 0
    with sample() as s:
        # every pair twice: the second round runs as statements the driver has prepared
        for words in _two_word_queries(_registry(), 40) * 2:
            everything = search.like_lookup_ids(s, words, limit=search.SCAN_CAP + 1)
            got = search.search_ids(s, words, limit=20)
            if len(everything) <= search.SCAN_CAP:
                assert got == everything[:20], words
                checked += 1
            else:
                assert len(got) == 20 and set(got) <= set(
                    search.like_lookup_ids(s, words, limit=10**6)), words
    assert checked > 60


def test_postgres_patterns_are_literals_so_every_run_gets_its_own_plan(
        session: Session, engine: Engine) -> None:
    """With bound patterns PostgreSQL moves a prepared statement to a generic plan that cannot
    use the trigram indexes; the patterns are inlined (quoted by the dialect) instead."""
    words = ["迎泽", "it's 50%_\\"]
    e = factories.make_elevator(session, address="太原市迎泽区it's 50%_\\路1号")
    session.commit()
    assert search.search_ids(session, words, limit=20) == [e.id]
    assert search.search_ids(session, words, limit=20) == search.like_lookup_ids(
        session, words, limit=20)
    if engine.dialect.name == "postgresql":
        sent: list[tuple[str, Any]] = []

        def listen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                   many: bool) -> None:
            sent.append((statement, params))

        event.listen(engine, "before_cursor_execute", listen)
        try:
            search.search_ids(session, words, limit=20)
        finally:
            event.remove(engine, "before_cursor_execute", listen)
        [(statement, params)] = sent
        assert "%%迎泽%%" in statement or "%迎泽%" in statement, statement
        assert not any(isinstance(v, str) for v in (params or {}).values()), params
