"""The OpenAPI document declares what every route answers when it refuses: problem+json
(RFC 9457) for 4xx and 503, with one shared schema (issue 12)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from dispatch.errors import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details; ``field`` names the input at fault.",
    "properties": {
        "type": {"type": "string", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "properties": {"field": {"type": "string"},
                                             "message": {"type": "string"}}}},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}

_WHY = {
    "400": "Malformed request (e.g. Content-Length)",
    "401": "Not authenticated (no, bad, expired or revoked credentials)",
    "403": "Forbidden (role, region, or a foreign Origin on a cookie-authenticated write)",
    "404": "Not found (or not visible to this user)",
    "409": "Not allowed in the current state, or changed concurrently",
    "413": "Request body too large",
    "422": "Invalid input; ``field`` names it",
    "429": "Too many failed logins; see Retry-After",
    "503": "A dependency (the database) is unavailable",
}


def _statuses(path: str, method: str, public: bool) -> list[str]:
    out = ["400", "422", "503"]
    if not public:
        out += ["401", "403"]
    if "{" in path:
        out.append("404")
    if method in ("post", "put", "patch", "delete"):
        out += ["409", "413"]
    if path == "/api/v1/auth/token":
        out += ["401", "429"]
    return sorted(set(out))


PUBLIC_PATHS = frozenset({"/healthz", "/api/v1/auth/token", "/api/v1/auth/logout"})


def add_problem_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the problem+json answers to every operation of ``schema`` (in place)."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            for status in _statuses(path, method, path in PUBLIC_PATHS):
                responses[status] = {"description": _WHY[status],
                                     "content": {PROBLEM_JSON: {"schema": ref}}}
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_problem_responses(get_openapi(
                title=app.title, version=app.version, summary=app.summary,
                description=app.description, routes=app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
