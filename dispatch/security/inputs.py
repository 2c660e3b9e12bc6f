"""Screening of request input that no route should ever see: NUL characters, JSON nested
deeper than any of our shapes, NaN/Infinity, integers beyond the 64-bit columns. Pure functions.

Each check answers the dotted name of the offending field (``events.3.detail``), so the caller
can answer a 422 that names it, as every other validation error does.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

MAX_JSON_DEPTH = 32
"""No request shape nests deeper than a handful of levels; 32 leaves room and stays far below
the recursion limits of the JSON parser and of the response serialiser."""

MAX_INT = 2**63 - 1
MAX_ID = 2**31 - 1
"""Ids are ``INTEGER`` columns: 32-bit on PostgreSQL."""


class InputRefused(ValueError):
    """Input no route should see; ``field`` names where (``body`` for the whole body)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _NonFinite:
    """Stands in for NaN/Infinity while parsing, so the walk can name the field."""


_NON_FINITE = _NonFinite()


def _refuse_constant(_: str) -> _NonFinite:
    return _NON_FINITE


def parse_json(body: bytes) -> Any:
    """The parsed body; raises ``InputRefused`` for nesting too deep for the parser and for
    NaN/Infinity/NUL/huge integers anywhere (named). Malformed JSON raises ``ValueError`` (the
    route's own parser then answers it, naming ``body``)."""
    try:
        data = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise InputRefused("body", f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None
    check_json(data)
    return data


def check_json(data: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Walk ``data`` without recursion; refuse the first bad value, naming its path."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > max_depth:
            raise InputRefused(_name(path[:max_depth]) or "body",
                               f"JSON nested deeper than {max_depth} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise InputRefused(_name(path) or "body", "NUL character in a key")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, str(i))) for i, item in enumerate(value))
        elif value is _NON_FINITE or (isinstance(value, float) and value != value):
            raise InputRefused(_name(path) or "body", "NaN and Infinity are not numbers")
        elif isinstance(value, str) and "\x00" in value:
            raise InputRefused(_name(path) or "body", "NUL character in text")
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise InputRefused(_name(path) or "body", "integer out of range")


def depth(data: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0, ``{"a": 1}`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, d = stack.pop()
        if isinstance(value, dict | list):
            items = value.values() if isinstance(value, dict) else value
            deepest = max(deepest, d + 1)
            stack.extend((v, d + 1) for v in items)
    return deepest


def check_text_pairs(pairs: list[tuple[str, str]]) -> None:
    """Query or form fields: refuse NUL in any name or value, naming the field."""
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise InputRefused(key.replace("\x00", "") or "query", "NUL character in text")


def check_query(query_string: bytes) -> None:
    if b"%00" not in query_string.lower() and b"\x00" not in query_string:
        return
    check_text_pairs(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))


def check_form(body: bytes) -> None:
    if b"%00" in body or b"\x00" in body:
        check_text_pairs(parse_qsl(body.decode("latin-1"), keep_blank_values=True))


def _name(path: tuple[str, ...]) -> str:
    return ".".join(path)
