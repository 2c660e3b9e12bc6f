"""Indexes the elevator lookup needs, declared next to the models so ``alembic check`` sees them.

Issue 13 (search at province scale): the PostgreSQL trigram index on ``building`` (the one on
``address`` is in :mod:`dispatch.models`) and the index behind the lookup by the caller's phone
number. They live in this module, imported once from :mod:`dispatch.all_models`, so the shared
models module is not edited by every issue. The SQLite full-text tables are not in the metadata
at all: see ``alembic/versions/0006_search.py``.
"""

from __future__ import annotations

from sqlalchemy import Index

from dispatch.models import Elevator, Incident, _pg_only

building_trgm = _pg_only(Index("ix_elevator_building_trgm", Elevator.building,
                               postgresql_using="gin",
                               postgresql_ops={"building": "gin_trgm_ops"}))

caller_phone = Index("ix_incident_caller_phone_received", Incident.caller_phone,
                     Incident.received_at)
