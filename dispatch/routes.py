"""Introspection of the app's routes (used by the access-rule test and the docs)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute

from dispatch.deps import access_rule


def iter_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, descending into included routers (FastAPI ≥ 0.16 keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from iter_routes(nested.routes)
        else:
            yield route


def _rules(dependant: Dependant) -> Iterator[tuple[str, ...]]:
    rule = access_rule(dependant.call)
    if rule is not None:
        yield rule
    for sub in dependant.dependencies:
        yield from _rules(sub)


def route_access(route: APIRoute | APIWebSocketRoute) -> list[tuple[str, ...]]:
    """The access rules a route declares (roles, or ``("public",)``)."""
    return list(_rules(route.dependant))
