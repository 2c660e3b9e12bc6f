"""Bounded id types for paths and queries: an id beyond the ``INTEGER`` column is a 422 naming
the parameter, not a database overflow (500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from dispatch.security.inputs import MAX_ID

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A ``{..._id}`` path parameter."""

QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
"""An optional id filter in the query string."""

Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
