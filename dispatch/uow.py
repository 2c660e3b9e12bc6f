"""The unit of work: the one place where a transaction ends.

A request, a job, a CLI command and a webhook each run in one unit of work: it opens a session,
commits once when the work succeeded and rolls back when it raised. Services and routers only
``flush``; an architecture test (``tests/test_architecture.py``) fails on ``.commit(`` anywhere
else in ``dispatch/``. Committing in one place is what makes "row + timeline event + outbox row"
atomic by construction rather than by care.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work is committed on success and rolled back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def command_unit_of_work(url: str | None = None) -> Iterator[Session]:
    """One unit of work for a CLI command on the configured database (or ``url``), with the
    standard event hooks installed like the server's."""
    from dispatch.db import make_engine, session_factory
    from dispatch.hooks import install_event_hooks
    from dispatch.settings import get_settings

    engine = make_engine(url or get_settings().database_url)
    factory = session_factory(engine)
    install_event_hooks(factory)
    try:
        with unit_of_work(factory) as session:
            yield session
    finally:
        engine.dispose()
