"""MQTT ingestion (issue 19): a consumer on a persistent MQTT 5 session with shared
subscriptions, batching messages into one transaction and acknowledging after commit.

- Topics ``<prefix>/<device_id>/events`` and ``…/heartbeat``, subscribed as
  ``$share/<group>/<prefix>/+/<kind>`` at QoS 1: every consumer of the group (each server
  process, or ``rescue mqtt consume``) gets a share, and the broker keeps the session
  (``clean_start=False`` with a session expiry) while a consumer restarts.
- Messages are checked like HTTP requests (``telemetry.envelope``): signature over
  ``ts + "." + body`` with the device's secret; refused messages are logged, counted and
  acknowledged (a resend cannot make them valid), nothing of them is stored.
- Events and heartbeats have a lane each (an MQTT connection with its own persistent session
  ``<client id>.events`` / ``.heartbeat`` and Receive Maximum window, a queue and a worker
  thread), so heartbeats never wait behind slow event transactions, at the broker or here.
  Up to ``mqtt_batch_size`` messages or ``mqtt_batch_ms``
  make a batch: its events are stored unjudged (``service.accept_many``) in ONE transaction
  (exactly once per ``(device, event_id)``), heartbeats and other signs of life go to the
  liveness store, then every message of the batch is acknowledged (``manual_ack``) — never
  before its commit. A crash before the acknowledgement makes the broker deliver again; the
  repeats are recognised as stored and nothing is stored twice.
- A judge thread then applies the HTTP API's rules to the stored events
  (``service.judge_queued``: incidents opened or joined, lift by lift in the order the events
  happened), so slow incident-opening transactions never hold up storage and acknowledgement.
- A database outage (``OperationalError``) keeps the batch and retries it; any other error in
  a batch is isolated by redoing its messages one transaction each.
"""

from __future__ import annotations

import fcntl
import logging
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from dispatch.errors import Problem
from dispatch.settings import Settings
from dispatch.telemetry import envelope, liveness, service, signing
from dispatch.telemetry.liveness_schemas import parse_heartbeat
from dispatch.telemetry.liveness_store import Beat, LivenessStore
from dispatch.telemetry.models import Device
from dispatch.telemetry.schemas import parse_batch
from dispatch.uow import unit_of_work

log = logging.getLogger("rescue.mqtt")
JUDGE_POLL_S = 0.2
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class Inbound:
    topic: str
    payload: bytes
    mid: int
    qos: int
    generation: int = 0  # the connection it came on: acknowledge only on that one


@dataclass(slots=True)
class _Key:
    elevator_id: int
    secret: str
    sealed: str  # as stored: a refresh that finds it unchanged needs no unsealing


class DeviceKeys:
    """Device secrets, unsealed once and kept ``ttl_s`` (unknown ids too, so junk traffic
    cannot hammer the database); a deactivated, moved or re-registered device is seen after
    that. A refresh re-reads the rows but unseals only a secret whose stored text changed: at
    province scale every terminal's entry expires once a ``ttl_s``."""

    def __init__(self, app_secret: str, *, ttl_s: float = 60.0) -> None:
        self.app_secret = app_secret
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, _Key | None]] = {}  # kept after expiry, to compare

    def get_many(self, factory: sessionmaker[Session], ids: set[str]) -> dict[str, _Key | None]:
        now = time.monotonic()
        out: dict[str, _Key | None] = {}
        missing = []
        for d in ids:
            hit = self._cache.get(d)
            if hit is not None and hit[0] > now:
                out[d] = hit[1]
            else:
                missing.append(d)
        if missing:
            with factory() as session:
                rows = session.execute(
                    select(Device.id, Device.elevator_id, Device.active, Device.secret_sealed)
                    .where(Device.id.in_(missing))).all()
            found = {r.id: r for r in rows}
            for d in missing:
                row = found.get(d)
                key = None
                if row is not None and row.active:
                    key = self._unseal(d, row.elevator_id, row.secret_sealed)
                self._cache[d] = (now + self.ttl_s, key)
                out[d] = key
        return out

    def _unseal(self, device_id: str, elevator_id: int, sealed: str) -> _Key | None:
        old = self._cache.get(device_id)
        known = old[1] if old is not None else None
        if known is not None and known.sealed == sealed:
            return _Key(elevator_id, known.secret, sealed)
        try:
            return _Key(elevator_id, signing.unseal(sealed, self.app_secret), sealed)
        except signing.SealError:
            return None


@dataclass(slots=True)
class _Events:
    index: int
    item: service.DeviceBatch


class Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass
class Stats:
    counts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, counts: dict[str, int]) -> None:
        with self.lock:
            self.counts.update({k: v for k, v in counts.items() if v})

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.counts)


class Processor:
    """Checks a batch of messages and stores it (no broker: testable and reusable)."""

    def __init__(self, factory: sessionmaker[Session], store: LivenessStore, *,
                 settings: Settings, app_secret: str, clock: Clock = utcnow,
                 stats: Stats | None = None) -> None:
        self.factory = factory
        self.store = store
        self.settings = settings
        self.keys = DeviceKeys(app_secret)
        self.clock = clock
        self.stats = stats or Stats()

    def _check(self, m: Inbound, keys: dict[str, _Key | None], now: datetime,
               topic: envelope.Topic) -> tuple[_Key, bytes]:
        try:
            env = envelope.open_envelope(m.payload)
        except envelope.EnvelopeError as exc:
            raise Refused("envelope", str(exc)) from None
        key = keys.get(topic.device_id)
        if key is None or not signing.verify(key.secret, env.ts, env.body, env.sig):
            raise Refused("signature", "unknown device or wrong sig (HMAC-SHA256 of "
                                       "ts + '.' + body)")
        age = now.timestamp() - int(env.ts)
        max_skew = self.settings.telemetry_max_skew_s
        if age < -max_skew:
            raise Refused("timestamp", f"ts is {-age:.0f} s ahead of the server clock")
        # an event batch may have waited at the broker while we were down; a heartbeat that
        # old says nothing about now
        oldest = (self.settings.mqtt_session_expiry_s if topic.kind == "events" else max_skew)
        if age > oldest:
            raise Refused("timestamp", f"ts is {age:.0f} s old (at most {oldest} s)")
        return key, env.body

    def process(self, batch: list[Inbound]) -> dict[str, int]:
        """Store a batch; returns what happened (also added to ``stats`` and the store's
        counters). Raises ``OperationalError`` when the database is unavailable (the caller
        keeps the batch and retries)."""
        now = self.clock()
        counts: Counter[str] = Counter(messages=len(batch))
        prefix = self.settings.mqtt_topic_prefix
        topics = [envelope.parse_topic(m.topic, prefix) for m in batch]
        keys = self.keys.get_many(self.factory, {t.device_id for t in topics if t is not None})
        horizon = now + timedelta(seconds=self.settings.telemetry_max_skew_s)
        beats: list[Beat] = []
        batches: list[_Events] = []
        for i, (m, topic) in enumerate(zip(batch, topics, strict=True)):
            try:
                if topic is None:
                    raise Refused("topic", f"not {prefix}/<device_id>/events|heartbeat")
                key, body = self._check(m, keys, now, topic)
                if topic.kind == "heartbeat":
                    hb = parse_heartbeat(body)
                    beats.append(liveness.beat(topic.device_id, key.elevator_id, now, hb))
                    continue
                events, raw = parse_batch(body)
                for j, ev in enumerate(events):
                    if ev.occurred_at > horizon:
                        raise Refused("body", f"events.{j}.occurred_at: later than the "
                                              "server clock allows")
                batches.append(_Events(i, service.DeviceBatch(topic.device_id, key.elevator_id,
                                                               events, raw)))
                beats.append(liveness.beat(topic.device_id, key.elevator_id, now))
            except Refused as exc:
                self._refuse(counts, m, exc.reason, str(exc))
            except Problem as exc:
                self._refuse(counts, m, "body", f"{exc.field}: {exc.detail}")
        if batches:
            self._store_events(batches, now, counts)
        tr = liveness.record(self.store, beats)
        counts["heartbeats"] += sum(b.heartbeat for b in beats)
        if tr:
            with unit_of_work(self.factory) as session:
                liveness.apply_transitions(session, tr, now)
            counts["back_online"] += len(tr.back_online)
        self._count(counts)
        return dict(counts)

    def _count(self, counts: dict[str, int]) -> None:
        """This process's counters, and the deployment's (the liveness store's) for events,
        refusals and failures (``GET /api/v1/telemetry/mqtt``)."""
        self.stats.add(counts)
        self.store.incr({k: v for k, v in counts.items()
                         if k.startswith(("events_", "refused_", "failed"))})

    def _refuse(self, counts: Counter[str], m: Inbound, reason: str, detail: str) -> None:
        counts[f"refused_{reason}"] += 1
        log.warning("mqtt: refused a message on %s (%s): %s", m.topic[:120], reason,
                    detail[:200])

    def _store_events(self, batches: list[_Events], now: datetime, counts: Counter[str]) -> None:
        try:
            with unit_of_work(self.factory) as session:
                results = service.accept_many(session, [b.item for b in batches], now=now)
        except OperationalError:
            raise
        except Exception:
            log.exception("mqtt: a batch of %d event messages failed; retrying one by one",
                          len(batches))
            results = []
            for b in batches:
                try:
                    with unit_of_work(self.factory) as session:
                        results.extend(service.accept_many(session, [b.item], now=now))
                except OperationalError:
                    raise
                except Exception:
                    counts["failed"] += 1
                    log.exception("mqtt: event message of device %s failed", b.item.device_id)
        for r in results:
            counts["events_stored"] += r.stored
            counts["events_duplicate"] += r.duplicates

    def judge(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Judge stored events until none is queued or ``stopping()`` (``service.judge_queued``:
        the rules, and incidents opened or joined), one transaction per round of lifts; returns
        how many were judged. A round that raises is redone lift by lift, and a lift that still
        raises has its queued events marked ``failed`` (logged, counted) rather than blocking
        the queue. Raises ``OperationalError`` when the database is unavailable."""
        total = 0
        while not stopping():
            now = self.clock()
            try:
                with unit_of_work(self.factory) as session:
                    n = service.judge_queued(session, now=now, settings=self.settings,
                                             elevators=self.settings.mqtt_judge_lifts)
            except OperationalError:
                raise
            except Exception:
                log.exception("mqtt: judging a round of lifts failed; retrying lift by lift")
                n = self._judge_one_by_one(now)
            if n == 0:
                break
            total += n
            self._count({"events_judged": n})
        return total

    def _judge_one_by_one(self, now: datetime) -> int:
        with self.factory() as session:
            lifts = service.queued_lifts(session, limit=self.settings.mqtt_judge_lifts)
        n = 0
        for lift in lifts:
            try:
                with unit_of_work(self.factory) as session:
                    n += service.judge_queued(session, now=now, settings=self.settings,
                                              only=[lift])
            except OperationalError:
                raise
            except Exception as exc:
                log.exception("mqtt: judging the events of elevator %d failed", lift)
                with unit_of_work(self.factory) as session:
                    failed = service.fail_queued(session, lift, reason=type(exc).__name__)
                self._count({"events_failed": failed})
                n += failed
        return n


# --- the broker side -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def parse_url(url: str) -> BrokerAddress:
    """``mqtt://[user:pass@]host[:1883]`` or ``mqtts://…[:8883]`` (TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl") or not parts.hostname:
        raise ValueError(f"RESCUE_MQTT_URL must be mqtt://host:port or mqtts://…, not {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    return BrokerAddress(parts.hostname, parts.port or (8883 if tls else 1883), tls,
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None)


def claim_client_id(settings: Settings) -> tuple[str, IO[str]]:
    """A client id that is stable across restarts and unique among this host's processes:
    ``<base>-<n>`` for the lowest slot ``n`` whose lock file under ``var_dir`` is free (each
    uvicorn worker takes one). Stable matters: the broker keeps a session's queued messages
    for its client id, and gives a share of new ones to it even while it is away."""
    base = settings.mqtt_client_id or f"rescue-{socket.gethostname()}"
    folder = settings.var_dir / "mqtt"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(256):
        f = open(folder / f"{base}-{n}.lock", "w")  # noqa: SIM115  (held while we run)
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            continue
        return f"{base}-{n}", f
    raise RuntimeError("no free MQTT client slot (256 consumers on one host?)")


class _Lane:
    """One kind of message (events or heartbeats) on its own MQTT connection and persistent
    session ``<client id>.<kind>``: its own Receive Maximum window, so a backlog of slow
    incident-opening event batches never fills the window heartbeats need (one shared
    connection let ~2,000 unacknowledged events starve the heartbeats)."""

    def __init__(self, kind: str, client_id: str) -> None:
        self.kind = kind
        self.client_id = f"{client_id}.{kind}"
        self.inbox: queue.Queue[Inbound] = queue.Queue()
        self.connected = threading.Event()
        self.generation = 0  # bumped per connection: acknowledge only on the one it came on
        self.client: Any = None


class MqttConsumer:
    """Runs one paho-mqtt client (its network thread) and one worker thread per MQTT lane; a
    worker drains its lane's received messages into batches for the ``Processor``. With the
    ``judge`` lane, a thread judges what was stored (``Processor.judge``)."""

    def __init__(self, factory: sessionmaker[Session], store: LivenessStore, *,
                 settings: Settings, app_secret: str, clock: Clock = utcnow,
                 client_id: str | None = None) -> None:
        assert settings.mqtt_url, "RESCUE_MQTT_URL is not set"
        self.settings = settings
        self.address = parse_url(settings.mqtt_url)
        self.stats = Stats()
        self.processor = Processor(factory, store, settings=settings, app_secret=app_secret,
                                   clock=clock, stats=self.stats)
        self._lock_file: IO[str] | None = None
        if client_id is None:
            client_id, self._lock_file = claim_client_id(settings)
        self.client_id = client_id
        self.connected = threading.Event()  # every lane connected
        self.pause_before_ack = threading.Event()  # drills and tests: hold acknowledgements
        self._lanes = [_Lane(kind, client_id) for kind in settings.mqtt_lane_kinds
                       if kind != "judge"]  # the judge reads the database, not the broker
        self._judges = "judge" in settings.mqtt_lane_kinds
        self._stop = threading.Event()
        self._judge_wake = threading.Event()
        self._dead = False
        self._workers: list[threading.Thread] = []
        for lane in self._lanes:
            lane.client = self._make_client(lane)

    @property
    def session_ids(self) -> list[str]:
        """The broker sessions this consumer holds (one per lane)."""
        return [lane.client_id for lane in self._lanes]

    def _make_client(self, lane: _Lane) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from dispatch.telemetry.mqtt_socket import BufferedClient

        client = BufferedClient(CallbackAPIVersion.VERSION2, client_id=lane.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True, userdata=lane)
        if self.address.username:
            client.username_pw_set(self.address.username, self.address.password)
        if self.address.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    # -- paho callbacks (its network thread) ------------------------------------------------
    def _on_connect(self, client: Any, lane: _Lane, flags: Any, reason: Any,
                    _props: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt: connection refused: %s", reason)
            return
        from paho.mqtt.subscribeoptions import SubscribeOptions

        lane.generation += 1
        topic = envelope.subscription(self.settings.mqtt_topic_prefix,
                                      self.settings.mqtt_share_group, lane.kind)
        client.subscribe([(topic, SubscribeOptions(qos=1))])
        log.info("mqtt: %s connected to %s:%d (session present: %s)", lane.client_id,
                 self.address.host, self.address.port, flags.session_present)
        lane.connected.set()
        if all(la.connected.is_set() for la in self._lanes):
            self.connected.set()

    def _on_disconnect(self, _client: Any, lane: _Lane, _flags: Any, reason: Any,
                       _props: Any) -> None:
        lane.connected.clear()
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("mqtt: %s disconnected (%s); reconnecting", lane.client_id, reason)

    def _on_message(self, _client: Any, lane: _Lane, msg: Any) -> None:
        lane.inbox.put(Inbound(msg.topic, msg.payload, msg.mid, msg.qos, lane.generation))

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        for lane in self._lanes:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
            props.ReceiveMaximum = self.settings.mqtt_receive_max
            lane.client.connect_async(self.address.host, self.address.port, keepalive=30,
                                      clean_start=False, properties=props)
            lane.client.loop_start()
        self._workers = [threading.Thread(target=self._run, args=(lane,), daemon=True,
                                          name=f"rescue-mqtt-{lane.kind}")
                         for lane in self._lanes]
        if self._judges:
            self._workers.append(threading.Thread(target=self._judge_loop, daemon=True,
                                                  name="rescue-mqtt-judge"))
        if not self._lanes:
            self.connected.set()  # a judge alone: no broker connection to wait for
        for w in self._workers:
            w.start()

    def stop(self) -> None:
        """Disconnect cleanly. Messages received but not yet committed are not acknowledged:
        the broker keeps them in the session for the next start."""
        self._stop.set()
        for w in self._workers:
            w.join(timeout=30)
        for lane in self._lanes:
            lane.client.disconnect()
            lane.client.loop_stop()
        self._release()

    def crash(self) -> None:
        """Drop the connections without DISCONNECT and without acknowledging anything still
        in hand (tests and drills: what a killed process does)."""
        self._dead = True
        self._stop.set()
        for lane in self._lanes:
            lane.client.loop_stop()
            sock = lane.client.socket()
            if sock is not None:
                sock.close()
        for w in self._workers:
            w.join(timeout=30)
        self._release()

    def _release(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # -- the worker -------------------------------------------------------------------------
    def _next_batch(self, inbox: queue.Queue[Inbound]) -> list[Inbound]:
        try:
            first = inbox.get(timeout=0.2)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.settings.mqtt_batch_ms / 1000
        while len(batch) < self.settings.mqtt_batch_size:
            left = deadline - time.monotonic()
            try:
                batch.append(inbox.get(timeout=left) if left > 0 else inbox.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self, lane: _Lane) -> None:
        while not self._stop.is_set():
            batch = self._next_batch(lane.inbox)
            if not batch:
                continue
            delay = 0.5
            while not self._stop.is_set():
                try:
                    self.processor.process(batch)
                    break
                except OperationalError as exc:
                    log.warning("mqtt: database unavailable (%s); batch kept, retrying",
                                str(exc).splitlines()[0][:200])
                    self._stop.wait(delay)
                    delay = min(delay * 2, 10.0)
                except Exception:
                    log.exception("mqtt: batch failed; retrying")
                    self._stop.wait(delay)
                    delay = min(delay * 2, 10.0)
            else:
                return  # stopping with the batch unprocessed: the broker redelivers it
            while self.pause_before_ack.is_set() and not self._stop.is_set():
                time.sleep(0.02)
            if self._dead:
                return
            self._ack(lane, batch)
            if lane.kind == "events":
                self._judge_wake.set()

    def _judge_loop(self) -> None:
        """Judges stored events: woken after each commit of this process's events lane, and
        every ``JUDGE_POLL_S`` anyway (events stored by another process, or by one that died
        before judging them)."""
        delay = 0.5
        while not self._stop.is_set():
            self._judge_wake.wait(JUDGE_POLL_S)
            self._judge_wake.clear()
            if self._stop.is_set():
                return
            try:
                self.processor.judge(self._stop.is_set)
                delay = 0.5
            except OperationalError as exc:
                log.warning("mqtt: database unavailable while judging (%s); retrying",
                            str(exc).splitlines()[0][:200])
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)
                self._judge_wake.set()
            except Exception:  # the thread must outlive any bug: queued rows wait for it
                log.exception("mqtt: judging failed; retrying")
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _ack(self, lane: _Lane, batch: list[Inbound]) -> None:
        """Acknowledge in arrival order, only on the connection it came on (the broker
        matches acknowledgements by packet id)."""
        gen = lane.generation
        for m in batch:
            if m.qos > 0 and m.generation == gen:
                lane.client.ack(m.mid, m.qos)

    def status(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "sessions": self.session_ids,
                "connected": self.connected.is_set(),
                "broker": f"{self.address.host}:{self.address.port}",
                "queued": sum(lane.inbox.qsize() for lane in self._lanes),
                "counts": self.stats.snapshot()}
