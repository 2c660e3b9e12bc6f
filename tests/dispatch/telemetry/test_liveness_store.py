"""The liveness store, in memory and on a real Redis (``RESCUE_TEST_REDIS_URL``): the same
behaviour from both — transitions reported once, silence, dirty sets, the flush lock."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from dispatch.telemetry.liveness_store import Beat, LivenessStore, MemoryStore, RedisStore, Seen

REDIS_URL = os.environ.get("RESCUE_TEST_REDIS_URL")


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.skipif(
    not REDIS_URL, reason="RESCUE_TEST_REDIS_URL not set"))])
def store(request: pytest.FixtureRequest) -> Iterator[LivenessStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    s = RedisStore(REDIS_URL or "", scope=f"test-{uuid.uuid4().hex}")
    yield s
    s.clear()
    s.close()


def test_transitions_are_reported_once(store: LivenessStore) -> None:
    tr = store.record([Beat("a", 1, 100.0, True, 1, "normal", None, None, False),
                       Beat("b", 2, 100.0)])
    assert not tr  # nothing was offline, nothing lost mains
    store.mark_offline(["a"])
    tr = store.record([Beat("a", 1, 200.0, True, 2, "power_lost", "3", True, True)])
    assert tr.back_online == ["a"] and tr.mains_lost == ["a"] and tr.mains_back == []
    tr = store.record([Beat("a", 1, 210.0, True, 3, "power_lost", "3", True, True)])
    assert not tr  # still on lost mains: no new alert
    tr = store.record([Beat("a", 1, 220.0), Beat("a", 1, 221.0, True, 4, "normal", None,
                                                 None, False)])
    assert tr.mains_back == ["a"] and tr.back_online == []


def test_silence_excludes_terminals_already_offline(store: LivenessStore) -> None:
    store.record([Beat("a", 1, 100.0), Beat("b", 2, 150.0), Beat("c", 3, 300.0)])
    assert sorted(s.device_id for s in store.silent(200.0)) == ["a", "b"]
    store.mark_offline(["a"])
    assert [(s.device_id, s.elevator_id, s.at) for s in store.silent(200.0)] == [("b", 2, 150.0)]
    assert store.last_seen(["a", "c", "zz"]) == {"a": 100.0, "c": 300.0}


def test_dirty_terminals_are_taken_once_with_their_last_state(store: LivenessStore) -> None:
    store.record([Beat("a", 1, 100.0, True, 7, "inspection", "B1", True, False)])
    store.record([Beat("a", 1, 110.0)])  # an event after the heartbeat keeps its state
    [seen] = store.take_dirty()
    assert seen == Seen("a", 1, 110.0, 7, "inspection", "B1", True)
    assert store.take_dirty() == []


def test_the_flush_lock_admits_one_flush_per_interval(store: LivenessStore) -> None:
    assert store.acquire_flush(30) is True
    assert store.acquire_flush(30) is False


def test_seed_fills_an_empty_store_only(store: LivenessStore) -> None:
    rows = [(Seen("a", 1, 50.0), False), (Seen("b", 2, 60.0), True)]
    assert store.seed(rows) == 2
    assert [s.device_id for s in store.silent(100.0)] == ["a"]  # b was offline already
    store.record([Beat("a", 1, 500.0)])
    store.seed([(Seen("a", 1, 50.0), False)])
    assert store.last_seen(["a"]) == {"a": 500.0}


def test_counters_add_up(store: LivenessStore) -> None:
    store.incr({"heartbeats": 3})
    store.incr({"heartbeats": 2, "refused_signature": 1})
    assert store.counters() == {"heartbeats": 5, "refused_signature": 1}
