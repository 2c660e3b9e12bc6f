"""Replaying inbound messages safely: the first response to a key is stored and returned again.

Used for the API's ``Idempotency-Key`` header and, later, provider message ids. The ledger row is
written in the same transaction as the effect, so a crash leaves neither or both.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
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
    """The stored response for ``(source, key)``; 422 if the key came with another request."""
    row = session.scalar(select(InboundMessage).where(
        InboundMessage.source == source, InboundMessage.external_id == key))
    if row is None:
        return None
    if row.request_hash != digest:
        raise Problem(422, "Idempotency key reused", "this key was used with a different request",
                      field=field)
    return Stored(row.response_status, row.response_body)


def remember(session: Session, *, source: str, key: str, digest: str, status: int,
             body: dict[str, Any]) -> None:
    session.add(InboundMessage(source=source, external_id=key, request_hash=digest,
                               response_status=status, response_body=body))
