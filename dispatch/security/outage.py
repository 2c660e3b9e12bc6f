"""Database outage: every route answers 503 problem+json naming the dependency, not a bare 500
with a traceback; the job loop and the CLI use ``is_outage`` to say it once."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from dispatch.errors import problem_response

RETRY_AFTER_S = 5


def is_outage(exc: BaseException) -> bool:
    """A connection-level database failure (unreachable, refused, pool exhausted, file
    unopenable), as opposed to a bad statement or a constraint."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def outage_line(exc: BaseException) -> str:
    """One line for logs and the CLI: the driver's first line, no SQL, no traceback."""
    original = getattr(exc, "orig", None) or exc
    first = (str(original).strip().splitlines() or [type(original).__name__])[0]
    return f"database unavailable: {first[:300]}"


def install_outage_handler(app: FastAPI) -> None:
    async def _outage(_: Request, exc: Exception) -> JSONResponse:
        if not is_outage(exc):
            raise exc
        return problem_response(503, {
            "type": "about:blank", "title": "Service unavailable", "status": 503,
            "detail": "the database is unreachable; retry shortly", "dependency": "database"},
            headers={"Retry-After": str(RETRY_AFTER_S)})

    for kind in (DBAPIError, PoolTimeout):
        app.add_exception_handler(kind, _outage)
