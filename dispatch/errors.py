"""Business errors carry their HTTP status; one handler renders RFC 9457 problem+json."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch.ops.context import current_request_id

PROBLEM_JSON = "application/problem+json"


def problem_code(title: str) -> str:
    """The stable code of a problem title ("Team not available" → ``team_not_available``): the
    pages look it up in ``web/static/labels.json`` for the zh-CN / English message."""
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")


class Problem(Exception):
    """An error the client can act on: status, short title, detail, and the field at fault."""

    def __init__(self, status: int, title: str, detail: str = "", *, field: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.headers = headers
        self.status = status
        self.title = title
        self.detail = detail
        self.field = field
        self.extra = extra

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "about:blank", "title": self.title, "status": self.status}
        if self.detail:
            out["detail"] = self.detail
        if self.field:
            out["field"] = self.field
        out.update(self.extra)
        return out


def problem_response(status: int, body: dict[str, Any],
                     headers: dict[str, str] | None = None) -> JSONResponse:
    request_id = current_request_id()  # issue 18: quote it to the operator, grep the logs
    if "code" not in body and isinstance(body.get("title"), str):
        body = {**body, "code": problem_code(body["title"])}
    if request_id and "request_id" not in body:
        body = {**body, "request_id": request_id}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_name(loc: tuple[Any, ...], kind: str = "") -> str:
    if kind == "json_invalid":
        return "body"  # the loc ends in the character offset, which is no field
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def _message(error: Any) -> str:
    """Pydantic's message without its "Value error, " prefix (our validators' own words)."""
    msg = str(error["msg"])
    return msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _plain_ctx(ctx: dict[str, Any]) -> dict[str, Any]:
    """The limits of a failed check (min_length, ge, expected…) as JSON values."""
    return {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in ctx.items()
            if k != "error"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.body(), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_name(tuple(e["loc"]), e["type"]), "message": _message(e),
             "type": e["type"], **({"ctx": _plain_ctx(e["ctx"])} if e.get("ctx") else {})}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        return problem_response(422, {
            "type": "about:blank", "title": "Invalid request", "status": 422,
            "detail": f"{first['field']}: {first['message']}", "field": first["field"],
            "errors": errors,
        })

    @app.exception_handler(StaleDataError)
    async def _stale(_: Request, exc: StaleDataError) -> JSONResponse:
        return problem_response(409, {
            "type": "about:blank", "title": "Changed concurrently", "status": 409,
            "detail": "the record changed while this request ran; reload and retry"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(
            exc.status_code,
            {"type": "about:blank", "title": str(exc.detail), "status": exc.status_code},
            headers=dict(exc.headers) if exc.headers else None,
        )
