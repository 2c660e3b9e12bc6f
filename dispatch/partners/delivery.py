"""Pushing the partner outbox: the job loop claims the head row of every (incident, partner)
queue, POSTs it signed, and records the outcome — strictly in order per incident and partner.

* 2xx → ``delivered``; anything else (status, timeout, refused) → back to ``pending`` after a
  jittered exponential back-off, until ``RESCUE_PARTNER_RETRY_FOR_H`` after the row was written,
  then ``failed`` (visible in the admin API; a replay sends it again with the same delivery id).
* A claim leases the row (``sending``, ``next_at`` = now + lease): a process killed mid-send
  leaves it to be claimed again when the lease ends — at-least-once, the receiver dedups by
  ``X-Rescue-Delivery``.
* ``RESCUE_PARTNER_PAUSE_AFTER`` consecutive failures pause the partner (admin alerted); nothing
  of a paused partner is sent until it is resumed.

Signature: ``X-Rescue-Signature: t=<unix seconds>,v1=<lower-hex HMAC-SHA256(key = UTF-8 bytes of
the partner secret, msg = "<t>." + raw body)>`` — the terminals' rule (``telemetry.signing``).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from dispatch.partners.alerts import queue_alert
from dispatch.partners.models import Partner, PartnerDelivery
from dispatch.settings import Settings
from dispatch.telemetry import signing
from dispatch.uow import unit_of_work
from notify.retry import backoff_s

log = logging.getLogger("rescue.partners")


@dataclass
class PushReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.delivered + self.retried + self.failed


@dataclass(frozen=True)
class Outgoing:
    row_id: int
    partner_id: int
    url: str
    headers: dict[str, str]
    body: bytes


def raw_body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def signature_header(secret: str, body: bytes, t: int) -> str:
    return f"t={t},v1={signing.sign(secret, str(t), body)}"


def lease_s(settings: Settings) -> float:
    return 2 * settings.partner_timeout_s + 30


def claim(session: Session, *, now: datetime, settings: Settings, batch: int) -> list[int]:
    """Lease up to ``batch`` due rows, each the oldest undelivered of its (incident, partner)."""
    earlier = aliased(PartnerDelivery)
    blocked = exists().where(
        earlier.partner_id == PartnerDelivery.partner_id,
        earlier.incident_id == PartnerDelivery.incident_id,
        earlier.id < PartnerDelivery.id,
        earlier.status.in_(("pending", "sending", "failed")))  # not delivered (feed rows: pulled)
    ids = list(session.scalars(
        select(PartnerDelivery.id)
        .join(Partner, Partner.id == PartnerDelivery.partner_id)
        .where(PartnerDelivery.status.in_(("pending", "sending")),
               PartnerDelivery.next_at <= now, Partner.enabled.is_(True),
               Partner.paused.is_(False), Partner.url.is_not(None), ~blocked)
        .order_by(PartnerDelivery.next_at, PartnerDelivery.id).limit(batch)
        .with_for_update(of=PartnerDelivery, skip_locked=True)))
    if not ids:
        return []
    claimed = session.scalars(
        update(PartnerDelivery)
        .where(PartnerDelivery.id.in_(ids), PartnerDelivery.status.in_(("pending", "sending")),
               PartnerDelivery.next_at <= now)
        .values(status="sending", next_at=now + timedelta(seconds=lease_s(settings)))
        .returning(PartnerDelivery.id),
        execution_options={"synchronize_session": False}).all()
    return sorted(claimed)


def _outgoing(session: Session, ids: list[int], app_secret: str) -> list[Outgoing]:
    rows = session.scalars(select(PartnerDelivery).where(PartnerDelivery.id.in_(ids))
                           .order_by(PartnerDelivery.id)).all()
    partners = {p.id: p for p in session.scalars(
        select(Partner).where(Partner.id.in_({r.partner_id for r in rows})))}
    out = []
    t = int(time.time())
    for r in rows:
        p = partners[r.partner_id]
        body = raw_body(r.payload)
        secret = signing.unseal(p.secret_sealed, app_secret)
        assert p.url is not None
        out.append(Outgoing(r.id, p.id, p.url, {
            "Content-Type": "application/json; charset=utf-8",
            "X-Rescue-Event": r.event_type, "X-Rescue-Delivery": r.delivery_id,
            "X-Rescue-Signature": signature_header(secret, body, t)}, body))
    return out


def send(client: httpx.Client, o: Outgoing) -> tuple[int | None, str | None]:
    """POST one row: (status code or None, error or None)."""
    try:
        r = client.post(o.url, content=o.body, headers=o.headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= r.status_code < 300:
        return r.status_code, None
    return r.status_code, f"HTTP {r.status_code}: {r.text[:200]}"


def record(session: Session, row_id: int, code: int | None, error: str | None, *, now: datetime,
           settings: Settings, report: PushReport, rng: random.Random | None = None) -> None:
    row = session.get(PartnerDelivery, row_id, with_for_update=True)
    if row is None or row.status != "sending":
        return
    partner = session.get(Partner, row.partner_id, with_for_update=True)
    assert partner is not None
    row.attempts += 1
    row.response_code = code
    if error is None:
        row.status, row.delivered_at, row.last_error = "delivered", now, None
        partner.failures = 0
        report.delivered += 1
        return
    row.last_error = error
    partner.failures += 1
    if now - row.created_at >= timedelta(hours=settings.partner_retry_for_h):
        row.status = "failed"
        report.failed += 1
    else:
        row.status = "pending"
        row.next_at = now + timedelta(seconds=backoff_s(
            min(row.attempts, 30), base_s=settings.partner_retry_base_s,
            cap_s=settings.partner_retry_cap_s, rng=rng))
        report.retried += 1
    if partner.failures >= settings.partner_pause_after and not partner.paused:
        partner.paused = True
        queue_alert(session, "partner_paused", now, {
            "partner_id": partner.id, "name": partner.name, "failures": partner.failures,
            "last_error": error})


def _release(session: Session, row_id: int, now: datetime, settings: Settings) -> None:
    """Give a leased row back untried (its partner just failed in this pass)."""
    row = session.get(PartnerDelivery, row_id, with_for_update=True)
    if row is not None and row.status == "sending":
        row.status = "pending"
        row.next_at = now + timedelta(seconds=settings.partner_retry_base_s)


def run_partner_outbox(factory: sessionmaker[Session], *, settings: Settings, now: datetime,
                       client: httpx.Client | None = None, batch: int = 50,
                       limit: int = 2000, rng: random.Random | None = None,
                       clock: Callable[[], datetime] | None = None) -> PushReport:
    """Push every row due at ``now`` (up to ``limit``); returns what happened."""
    report = PushReport()
    own = client is None
    client = client or httpx.Client(timeout=settings.partner_timeout_s)
    app_secret = settings.resolved_secret_key()
    try:
        while report.handled < limit:
            with unit_of_work(factory) as session:
                ids = claim(session, now=now, settings=settings, batch=batch)
                outgoing = _outgoing(session, ids, app_secret) if ids else []
            if not ids:
                break
            down: set[int] = set()
            outcomes: list[tuple[int, int | None, str | None]] = []
            released: list[int] = []
            for o in outgoing:
                if o.partner_id in down:
                    released.append(o.row_id)
                    continue
                code, error = send(client, o)
                if error is not None:
                    down.add(o.partner_id)
                outcomes.append((o.row_id, code, error))
            # one transaction records the pass (a crash before it: the lease runs out and the
            # rows go again with the same delivery ids — at-least-once)
            with unit_of_work(factory) as session:
                done = clock() if clock else now
                for row_id, code, error in outcomes:
                    record(session, row_id, code, error, now=done, settings=settings,
                           report=report, rng=rng)
                for row_id in released:
                    _release(session, row_id, done, settings)
            if down and len(down) == len({o.partner_id for o in outgoing}):
                break  # every partner of this pass failed: try again on a later pass
    finally:
        if own:
            client.close()
    return report
