"""Alembic environment: one migration history for SQLite and PostGIS."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Index

from dispatch.all_models import Base
from dispatch.db import GeoPoint, make_engine
from dispatch.settings import get_settings

config = context.config
target_metadata = Base.metadata


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Ignore PostGIS's own tables and PostgreSQL-only indexes when on SQLite."""
    if type_ == "table" and reflected and compare_to is None:
        return name in target_metadata.tables
    if type_ == "index" and isinstance(obj, Index) and obj.info.get("postgresql_only"):
        return context.get_context().dialect.name == "postgresql"
    return True


def compare_type(ctx: Any, inspected_column: Any, metadata_column: Any,
                 inspected_type: Any, metadata_type: Any) -> bool | None:
    """GeoPoint is a decorator: compare what it becomes on this dialect."""
    if isinstance(metadata_type, GeoPoint):
        want = metadata_type.load_dialect_impl(ctx.dialect)
        return want.compile(dialect=ctx.dialect).lower().replace(" ", "") != (
            inspected_type.compile(dialect=ctx.dialect).lower().replace(" ", "")
        )
    return None


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    if type_ == "type" and isinstance(obj, GeoPoint):
        autogen_context.imports.add("import dispatch.db")
        return "dispatch.db.GeoPoint()"
    if type_ == "type" and obj.__class__.__name__ == "UTCDateTime":
        autogen_context.imports.add("import dispatch.models")
        return "dispatch.models.UTCDateTime()"
    return False


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        compare_type=compare_type,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
