"""Delivering the outbox: the job loop claims due rows, sends them, and records the outcome.

A claim marks a batch of rows ``sending`` with a lease (``next_try_at`` = now + lease) and
renders them in one short transaction; the provider call happens outside any transaction — a
slow provider never holds a database lock. The outcome is written in one transaction per row:

* accepted → the provider's id (SID) is stored and the row moves to ``queued`` (Twilio) or
  ``sent`` (log channel); delivery callbacks move it on from there;
* a retryable error (5xx, 429, timeout, connection) → back to ``pending`` with
  ``next_try_at`` after an exponential, jittered backoff, the error kept;
* a permanent error, or the last of ``RESCUE_NOTIFY_MAX_TRIES`` → ``failed`` with the error.

A process that dies mid-send leaves the row ``sending``; when the lease runs out another loop
claims it again. That is the one case a message can go out twice (at-least-once): for an
entrapment a repeated SMS is better than a missing one.

Offer messages are checked when sent: an offer that is no longer open (accepted, declined, timed
out) is ``cancelled`` rather than sent, and the voice call waits until the offer has gone
unanswered for ``RESCUE_NOTIFY_VOICE_AFTER_S``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dispatch import lifecycle
from dispatch.auth.links import crew_link, issue_link_token
from dispatch.models import Assignment, Team
from dispatch.notifications.channels import Channels, channels_for
from dispatch.notifications.models import Notification
from dispatch.notifications.status import advances
from dispatch.settings import Settings
from dispatch.uow import unit_of_work
from notify import twiml
from notify.channel import Outbound, ProviderError, SendResult
from notify.phones import to_e164
from notify.retry import backoff_s
from notify.templates import render

log = logging.getLogger("rescue.notify")
CHINA_TIME = timezone(timedelta(hours=8))
BACKOFF_CAP_S = 300.0
OFFER_TEMPLATES = ("offer_sms", "offer_call")


@dataclass
class OutboxReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.cancelled + self.deferred


def lease_s(settings: Settings) -> float:
    return 2 * settings.notify_timeout_s + 30


def claim(session: Session, *, now: datetime, settings: Settings, batch: int) -> list[int]:
    """Mark up to ``batch`` due rows ``sending`` under a lease; returns their ids. On
    PostgreSQL the candidate rows are locked ``SKIP LOCKED``, so concurrent loops split them."""
    ids = list(session.scalars(
        select(Notification.id)
        .where(Notification.status.in_(("pending", "sending")),
               Notification.next_try_at <= now)
        .order_by(Notification.next_try_at, Notification.id).limit(batch)
        .with_for_update(skip_locked=True)))
    if not ids:
        return []
    claimed = session.scalars(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.status.in_(("pending", "sending")),
               Notification.next_try_at <= now)
        .values(status="sending", next_try_at=now + timedelta(seconds=lease_s(settings)))
        .returning(Notification.id),
        execution_options={"synchronize_session": False}).all()
    return sorted(claimed)


def _local(iso: str | None) -> str:
    if not iso:
        return "-"
    return datetime.fromisoformat(iso).astimezone(CHINA_TIME).strftime("%H:%M")


def _values(n: Notification, settings: Settings, channels: Channels) -> dict[str, Any]:
    v: dict[str, Any] = dict(n.data or {})
    unknown = "?" if n.lang == "en" else "若干"
    if v.get("trapped") is None:
        v["trapped"] = unknown
    if "eta_min" in v and v["eta_min"] is None:
        v["eta_min"] = unknown
    if "accept_by" in v:
        v["accept_by"] = _local(v.get("accept_by"))
    if n.template == "offer_sms":
        token = issue_link_token(secret=channels.secret_key, team_id=int(v["team_id"]),
                                 assignment_id=int(v["assignment_id"]),
                                 now=datetime.now(UTC), ttl_min=settings.crew_link_ttl_min)
        v["link"] = crew_link(settings.public_base_url, token)
    if "received_at" in v:
        v["received_at"] = datetime.fromisoformat(v["received_at"]).astimezone(
            CHINA_TIME).strftime("%Y-%m-%d %H:%M")
    return v


def build(n: Notification, settings: Settings, channels: Channels) -> Outbound:
    """The message to hand to the channel: rendered text, TwiML for calls, callback URL."""
    base = settings.public_base_url.rstrip("/")
    body = render(n.template, n.lang, _values(n, settings, channels))
    script = None
    if n.channel == "voice":
        action = f"{base}/twilio/voice/gather?step=offer&a={n.assignment_id}"
        script = twiml.gather(body, action=action, lang=n.lang, num_digits=1,
                              after=render("ivr_no_input", n.lang, {}))
    callback = f"{base}/twilio/status?n={n.id}" if channels.twilio else None
    assert n.to, "recipient resolved in _prepare"
    return Outbound(n.channel, n.to, body, twiml=script,  # type: ignore[arg-type]
                    status_callback=callback, tag=str(n.id))


def _add_offer_call(session: Session, sms: Notification, settings: Settings) -> None:
    """The voice call that follows an unanswered offer SMS: written the first time the loop
    handles the SMS (before sending it), so it is as durable as the SMS but costs the dispatch
    transaction nothing."""
    if session.scalar(select(Notification.id).where(
            Notification.assignment_id == sms.assignment_id,
            Notification.template == "offer_call").limit(1)):
        return
    session.add(Notification(
        incident_id=sms.incident_id, event_id=sms.event_id, assignment_id=sms.assignment_id,
        channel="voice", recipient_kind="team", recipient_id=sms.recipient_id, to=sms.to,
        lang=sms.lang, template="offer_call", data=dict(sms.data), status="pending",
        attempts=0, created_at=sms.created_at,
        next_try_at=sms.created_at + timedelta(seconds=settings.notify_voice_after_s)))


def _prepare(session: Session, nid: int, *, now: datetime, settings: Settings,
             channels: Channels, report: OutboxReport) -> Outbound | None:
    """Load a claimed row and decide: send it (returns the message), or cancel/defer it."""
    n = session.get(Notification, nid, with_for_update=True)
    if n is None or n.status != "sending":
        return None
    if n.recipient_kind == "team" and not n.to:
        team = session.get(Team, n.recipient_id)
        if team is None or not team.phone:
            n.status, n.status_at, n.error = "failed", now, "team has no phone number"
            report.failed += 1
            return None
        n.to, n.lang = to_e164(team.phone), team.lang
    if n.template in OFFER_TEMPLATES and n.assignment_id is not None:
        a = session.get(Assignment, n.assignment_id)
        if a is None or a.state != lifecycle.OFFERED:
            n.status, n.status_at = "cancelled", now
            n.error = f"offer {a.state if a else 'gone'} before delivery"
            report.cancelled += 1
            return None
        if n.template == "offer_sms":
            _add_offer_call(session, n, settings)
        if n.template == "offer_call":
            due = n.created_at + timedelta(seconds=settings.notify_voice_after_s)
            if now < due:
                n.status, n.next_try_at = "pending", due
                report.deferred += 1
                return None
    try:
        message = build(n, settings, channels)
    except Exception as exc:  # a template/value bug: no point retrying
        n.status, n.status_at, n.error = "failed", now, f"render: {exc}"[:500]
        report.failed += 1
        return None
    n.body = message.body
    return message


def record_result(session: Session, nid: int, outcome: SendResult | ProviderError, *,
                  now: datetime, settings: Settings, rng: random.Random | None = None,
                  report: OutboxReport | None = None) -> Notification | None:
    report = report or OutboxReport()
    n = session.get(Notification, nid, with_for_update=True)
    if n is None:
        return None
    if isinstance(outcome, SendResult):
        n.provider, n.provider_id = outcome.provider, outcome.provider_id
        n.sent_at = n.sent_at or now
        if n.status == "sending" or advances(n.channel, n.status, outcome.status):
            # a callback may already have moved the row on (fast providers): keep the later
            n.status = outcome.status
        n.status_at = now
        n.attempts += 1
        n.error = None
        report.sent += 1
        return n
    n.attempts += 1
    n.error = str(outcome)[:500]
    n.status_at = now
    if outcome.retryable and n.attempts < settings.notify_max_tries:
        n.status = "pending"
        n.next_try_at = now + timedelta(seconds=backoff_s(
            n.attempts, base_s=settings.notify_retry_base_s, cap_s=BACKOFF_CAP_S, rng=rng))
        report.retried += 1
    else:
        n.status = "failed"
        report.failed += 1
    return n


def run_outbox(factory: sessionmaker[Session], *, settings: Settings, now: datetime,
               channels: Channels | None = None, batch: int = 50, limit: int = 1000,
               rng: random.Random | None = None,
               clock: Callable[[], datetime] | None = None) -> OutboxReport:
    """Deliver every row due at ``now`` (up to ``limit``); returns what happened."""
    channels = channels or channels_for(settings)
    report = OutboxReport()
    while report.handled < limit:
        with unit_of_work(factory) as session:  # claim and prepare a batch: one short one
            ids = claim(session, now=now, settings=settings, batch=batch)
            list(session.scalars(select(Notification).where(Notification.id.in_(ids))))
            messages = {nid: _prepare(session, nid, now=now, settings=settings,
                                      channels=channels, report=report) for nid in ids}
        if not ids:
            return report
        for nid, message in messages.items():
            if message is None:
                continue
            outcome: SendResult | ProviderError
            try:
                outcome = channels.for_kind(message.kind).send(message)
            except ProviderError as exc:
                outcome = exc
            except Exception as exc:  # a channel bug must not stop the loop
                log.exception("channel failed on notification %s", nid)
                outcome = ProviderError(f"{type(exc).__name__}: {exc}", retryable=True)
            done = clock() if clock else now
            with unit_of_work(factory) as session:
                record_result(session, nid, outcome, now=done, settings=settings, rng=rng,
                              report=report)
    return report
