"""Calls and seats (issue 15).

A ``call`` row is one Twilio call leg of the hotline (inbound) or placed by the centre
(outbound call-back). Full numbers are stored (the operator needs them) but never logged
unmasked (``notify.phones.mask``). A ``seat`` is an operator signed in with a desk phone.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from dispatch.models import Base

DIRECTIONS = ("inbound", "outbound")
STATUSES = ("ivr", "queued", "answered", "completed", "abandoned", "failed")
"""``ivr``: still in the menu; ``queued``: waiting for an operator (ringing on the consoles);
``answered``: an operator took it; ``completed``: ended after being answered (or an IVR call
that ended in the menu); ``abandoned``: the caller hung up while queued. A leg of a three-way
call (``conference`` set) goes ``dialing → ringing → in_progress → completed`` or ``busy`` /
``no_answer`` / ``failed``."""


class Call(Base):
    __tablename__ = "call"
    __table_args__ = (Index("ix_call_status_queued", "status", "queued_at"),
                      Index("ix_call_from", "from_number"))
    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(16))
    from_number: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    rescue_code: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    recording_sid: Mapped[str | None] = mapped_column(String(64))
    recording_duration_s: Mapped[int | None] = mapped_column(Integer)
    recording_deleted_at: Mapped[datetime | None]
    callback_of_id: Mapped[int | None] = mapped_column(ForeignKey("call.id"))
    called_back_at: Mapped[datetime | None]
    conference: Mapped[str | None] = mapped_column(String(64), index=True)
    leg: Mapped[str | None] = mapped_column(String(16))  # operator | caller | team | use_unit


class Seat(Base):
    __tablename__ = "seat"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    phone: Mapped[str] = mapped_column(String(32))
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]
