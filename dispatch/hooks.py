"""The event hooks every writing process installs on its session factory.

Listed here, installed explicitly by ``create_app`` and the job loop: a process that writes
timeline events writes their outbox rows too, whatever it imported.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from dispatch.events import register_hook
from dispatch.notifications.outbox import write_outbox
from dispatch.partners.outbox import write_partner_outbox


def install_event_hooks(factory: sessionmaker[Session]) -> None:
    """Register the standard hooks on ``factory`` (idempotent)."""
    register_hook(factory, write_outbox)
    register_hook(factory, write_partner_outbox)  # issue 14
