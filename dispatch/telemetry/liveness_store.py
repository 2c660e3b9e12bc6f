"""Where heartbeats land: the last-seen time and state of every terminal, in Redis when
``RESCUE_REDIS_URL`` is set (shared by every worker and consumer), in memory otherwise.

A heartbeat costs a few pipelined Redis commands, never a database row. The store also holds
which terminals are currently offline or on lost mains (so the hot path learns of a
transition without a query), which terminals changed since the last flush, and counters.
The database copy (``device_liveness``) is written by the flush, at most once per
``RESCUE_HEARTBEAT_FLUSH_S``; a memory store is re-seeded from it at start-up.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Beat:
    """A sign of life: a heartbeat (``heartbeat=True``, with its state) or any other message."""

    device_id: str
    elevator_id: int
    at: float  # server time, Unix seconds
    heartbeat: bool = False
    seq: int | None = None
    mode: str | None = None
    floor: str | None = None
    door_zone: bool | None = None
    mains_lost: bool | None = None  # None: the message says nothing about mains power


@dataclass(slots=True)
class Transitions:
    back_online: list[str] = field(default_factory=list)
    mains_lost: list[str] = field(default_factory=list)
    mains_back: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.back_online or self.mains_lost or self.mains_back)


@dataclass(frozen=True, slots=True)
class Seen:
    device_id: str
    elevator_id: int
    at: float
    seq: int | None = None
    mode: str | None = None
    floor: str | None = None
    door_zone: bool | None = None


class LivenessStore(Protocol):
    def record(self, beats: Sequence[Beat]) -> Transitions: ...
    def silent(self, cutoff: float) -> list[Seen]: ...
    def mark_offline(self, device_ids: Iterable[str]) -> None: ...
    def last_seen(self, device_ids: Sequence[str]) -> dict[str, float]: ...
    def take_dirty(self) -> list[Seen]: ...
    def acquire_flush(self, ttl_s: float) -> bool: ...
    def seed(self, rows: Iterable[tuple[Seen, bool]]) -> int: ...
    def incr(self, counts: dict[str, int]) -> None: ...
    def counters(self) -> dict[str, int]: ...


def _last_per_device(beats: Sequence[Beat]) -> list[Beat]:
    """One beat per device (the last; a heartbeat wins over a bare sign of life for state)."""
    out: dict[str, Beat] = {}
    for b in beats:
        prev = out.get(b.device_id)
        if prev is not None and prev.heartbeat and not b.heartbeat:
            b = Beat(b.device_id, b.elevator_id, b.at, True, prev.seq, prev.mode, prev.floor,
                     prev.door_zone, prev.mains_lost)
        out[b.device_id] = b
    return list(out.values())


class MemoryStore:
    """One process's store (the embedded default: one server process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, Seen] = {}
        self._offline: set[str] = set()
        self._mains: set[str] = set()
        self._dirty: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._flush_until = 0.0

    def record(self, beats: Sequence[Beat]) -> Transitions:
        tr = Transitions()
        with self._lock:
            for b in _last_per_device(beats):
                prev = self._seen.get(b.device_id)
                if b.heartbeat or prev is None:
                    self._seen[b.device_id] = Seen(b.device_id, b.elevator_id, b.at, b.seq,
                                                   b.mode, b.floor, b.door_zone)
                else:
                    self._seen[b.device_id] = Seen(b.device_id, b.elevator_id, b.at, prev.seq,
                                                   prev.mode, prev.floor, prev.door_zone)
                self._dirty.add(b.device_id)
                if b.device_id in self._offline:
                    self._offline.discard(b.device_id)
                    tr.back_online.append(b.device_id)
                if b.mains_lost is True and b.device_id not in self._mains:
                    self._mains.add(b.device_id)
                    tr.mains_lost.append(b.device_id)
                elif b.mains_lost is False and b.device_id in self._mains:
                    self._mains.discard(b.device_id)
                    tr.mains_back.append(b.device_id)
        return tr

    def silent(self, cutoff: float) -> list[Seen]:
        with self._lock:
            return [s for d, s in self._seen.items() if s.at < cutoff and d not in self._offline]

    def mark_offline(self, device_ids: Iterable[str]) -> None:
        with self._lock:
            self._offline.update(device_ids)

    def last_seen(self, device_ids: Sequence[str]) -> dict[str, float]:
        with self._lock:
            return {d: self._seen[d].at for d in device_ids if d in self._seen}

    def take_dirty(self) -> list[Seen]:
        with self._lock:
            out = [self._seen[d] for d in self._dirty if d in self._seen]
            self._dirty.clear()
            return out

    def acquire_flush(self, ttl_s: float) -> bool:
        import time

        with self._lock:
            now = time.monotonic()
            if now < self._flush_until:
                return False
            self._flush_until = now + ttl_s
            return True

    def seed(self, rows: Iterable[tuple[Seen, bool]]) -> int:
        n = 0
        with self._lock:
            for seen, offline in rows:
                if seen.device_id not in self._seen:
                    self._seen[seen.device_id] = seen
                    n += 1
                    if offline:
                        self._offline.add(seen.device_id)
        return n

    def incr(self, counts: dict[str, int]) -> None:
        with self._lock:
            self._counts.update(counts)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


# KEYS: seen (zset), elev, dirty, state, offline, mains. ARGV[1]: JSON [[id, at, elevator,
# state or "", mains: 1 lost / 0 back / -1 unknown], ...]. Returns {back online, mains lost,
# mains back}, each a list of device ids whose state this call changed.
_RECORD_LUA = """
local rows = cjson.decode(ARGV[1])
local back, lost, mback = {}, {}, {}
for _, r in ipairs(rows) do
  local id = r[1]
  redis.call('ZADD', KEYS[1], r[2], id)
  redis.call('HSET', KEYS[2], id, r[3])
  redis.call('SADD', KEYS[3], id)
  if r[4] ~= '' then redis.call('HSET', KEYS[4], id, r[4]) end
  if redis.call('SREM', KEYS[5], id) == 1 then back[#back + 1] = id end
  if r[5] == 1 then
    if redis.call('SADD', KEYS[6], id) == 1 then lost[#lost + 1] = id end
  elseif r[5] == 0 then
    if redis.call('SREM', KEYS[6], id) == 1 then mback[#mback + 1] = id end
  end
end
return {back, lost, mback}
"""


class RedisStore:
    """The shared store. Keys under ``rescue:live:<scope>:`` (scope: a hash of the database
    URL, so deployments and parallel test runs sharing a Redis do not mix)."""

    def __init__(self, url: str, *, scope: str) -> None:
        import redis

        # typed loosely: redis-py's stubs model replies as unions of every reply type
        self._r: Any = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=2.0)
        p = f"rescue:live:{hashlib.sha256(scope.encode()).hexdigest()[:12]}:"
        self.k_seen, self.k_elev, self.k_state = p + "seen", p + "elev", p + "state"
        self.k_offline, self.k_mains, self.k_dirty = p + "offline", p + "mains", p + "dirty"
        self.k_flush, self.k_stats = p + "flush", p + "stats"
        self._record = self._r.register_script(_RECORD_LUA)

    def record(self, beats: Sequence[Beat]) -> Transitions:
        """One script call per batch: the beats travel as one JSON argument, so the client
        packs a single string instead of ~11 arguments per terminal (the packing dominated
        the heartbeat path), and Redis applies them atomically."""
        beats = _last_per_device(beats)
        if not beats:
            return Transitions()
        rows = [[b.device_id, repr(b.at), str(b.elevator_id),
                 json.dumps([b.seq, b.mode, b.floor, b.door_zone], separators=(",", ":"))
                 if b.heartbeat else "",
                 -1 if b.mains_lost is None else int(b.mains_lost)] for b in beats]
        back, lost, mback = self._record(
            keys=[self.k_seen, self.k_elev, self.k_dirty, self.k_state, self.k_offline,
                  self.k_mains], args=[json.dumps(rows, separators=(",", ":"))])
        return Transitions(back_online=[d.decode() for d in back],
                           mains_lost=[d.decode() for d in lost],
                           mains_back=[d.decode() for d in mback])

    def _seen_rows(self, pairs: list[tuple[str, float]]) -> list[Seen]:
        if not pairs:
            return []
        ids = [d for d, _ in pairs]
        pipe = self._r.pipeline(transaction=False)
        pipe.hmget(self.k_elev, ids)
        pipe.hmget(self.k_state, ids)
        elevs, states = pipe.execute()
        out = []
        for (d, at), e, st in zip(pairs, elevs, states, strict=True):
            if e is None:
                continue
            seq, mode, floor, dz = json.loads(st) if st else (None, None, None, None)
            out.append(Seen(d, int(e), at, seq, mode, floor, dz))
        return out

    def silent(self, cutoff: float) -> list[Seen]:
        pairs = [(d.decode(), float(s)) for d, s in
                 self._r.zrangebyscore(self.k_seen, "-inf", f"({cutoff}", withscores=True)]
        if not pairs:
            return []
        off = self._r.smismember(self.k_offline, [d for d, _ in pairs])
        return self._seen_rows([p for p, o in zip(pairs, off, strict=True) if not o])

    def mark_offline(self, device_ids: Iterable[str]) -> None:
        ids = list(device_ids)
        if ids:
            self._r.sadd(self.k_offline, *ids)

    def last_seen(self, device_ids: Sequence[str]) -> dict[str, float]:
        if not device_ids:
            return {}
        scores = self._r.zmscore(self.k_seen, list(device_ids))
        return {d: float(s) for d, s in zip(device_ids, scores, strict=True) if s is not None}

    def take_dirty(self) -> list[Seen]:
        ids: list[str] = []
        while True:  # SPOP in chunks: a terminal beating meanwhile is simply dirty again
            chunk = self._r.spop(self.k_dirty, 5000)
            if not chunk:
                break
            ids.extend(d.decode() for d in chunk)
            if len(chunk) < 5000:
                break
        out: list[Seen] = []
        for i in range(0, len(ids), 5000):
            part = ids[i:i + 5000]
            scores = self._r.zmscore(self.k_seen, part)
            out.extend(self._seen_rows([(d, float(s)) for d, s in
                                        zip(part, scores, strict=True) if s is not None]))
        return out

    def acquire_flush(self, ttl_s: float) -> bool:
        return bool(self._r.set(self.k_flush, "1", nx=True, px=max(1, int(ttl_s * 1000))))

    def seed(self, rows: Iterable[tuple[Seen, bool]]) -> int:
        rows = list(rows)
        if not rows or self._r.zcard(self.k_seen) > 0:
            return 0  # Redis already knows more recent times than the database
        pipe = self._r.pipeline(transaction=False)
        for i in range(0, len(rows), 5000):
            part = rows[i:i + 5000]
            pipe.zadd(self.k_seen, {s.device_id: s.at for s, _ in part}, nx=True)
            pipe.hset(self.k_elev, mapping={s.device_id: s.elevator_id for s, _ in part})
            off = [s.device_id for s, o in part if o]
            if off:
                pipe.sadd(self.k_offline, *off)
        pipe.execute()
        return len(rows)

    def incr(self, counts: dict[str, int]) -> None:
        if counts:
            pipe = self._r.pipeline(transaction=False)
            for k, v in counts.items():
                pipe.hincrby(self.k_stats, k, v)
            pipe.execute()

    def counters(self) -> dict[str, int]:
        return {k.decode(): int(v) for k, v in self._r.hgetall(self.k_stats).items()}

    def clear(self) -> None:
        """Forget everything (tests)."""
        self._r.delete(self.k_seen, self.k_elev, self.k_state, self.k_offline, self.k_mains,
                       self.k_dirty, self.k_flush, self.k_stats)

    def close(self) -> None:
        self._r.close()


def make_store(redis_url: str | None, *, scope: str) -> LivenessStore:
    return RedisStore(redis_url, scope=scope) if redis_url else MemoryStore()

