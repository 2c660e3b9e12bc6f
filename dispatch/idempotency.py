"""Replaying inbound messages safely: the first answer to a key is stored and returned again.

Used for the API's ``Idempotency-Key`` header and for provider message ids (Twilio SIDs). The
ledger row is claimed *before* the effect runs and written in the same transaction as the
effect, so a crash leaves neither or both, and a concurrent duplicate waits on the claim (the
unique key) and then gets the first answer instead of running the effect twice.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch.errors import Problem
from dispatch.models import InboundMessage


@dataclass(frozen=True, slots=True)
class Stored:
    status: int
    body: dict[str, Any]


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def replay(session: Session, *, source: str, key: str, digest: str,
           field: str = "Idempotency-Key") -> Stored | None:
    """The stored answer for ``(source, key)``; 422 if the key came with another request."""
    row = session.scalar(select(InboundMessage).where(
        InboundMessage.source == source, InboundMessage.external_id == key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise Problem(422, "Idempotency key reused", "this key was used with a different request",
                      field=field)
    return Stored(row.response_status, row.response_body)


def run_once(session: Session, *, source: str, key: str, digest: str,
             effect: Callable[[], tuple[int, dict[str, Any]]],
             field: str = "Idempotency-Key") -> Stored:
    """Run ``effect`` once per ``(source, key)`` and return its ``(status, body)``; a repeat —
    sequential or concurrent — gets the first answer back and changes nothing.

    The claim is flushed first: a concurrent request with the same key blocks on the unique
    index until the first one's unit of work ends, then fails the insert and replays."""
    stored = replay(session, source=source, key=key, digest=digest, field=field)
    if stored is not None:
        return stored
    claim = InboundMessage(source=source, external_id=key, request_hash=digest,
                           response_status=0, response_body={})
    session.add(claim)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        stored = replay(session, source=source, key=key, digest=digest, field=field)
        if stored is None:
            raise
        return stored
    status, body = effect()
    claim.response_status, claim.response_body = status, body
    return Stored(status, body)
