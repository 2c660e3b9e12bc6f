"""Where the migrations and the fixture data are: in the checkout, or inside an installed wheel.

An editable install (``make run``) reads ``alembic/`` and ``fixtures/`` from the repository; a
wheel carries copies under ``dispatch/_data/`` (see ``setup.py``). ``RESCUE_DATA_DIR`` points
elsewhere when both are missing (a deployment that keeps its own copy).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGED = Path(__file__).resolve().parent / "_data"
CHECKOUT = Path(__file__).resolve().parent.parent


def data_path(name: str) -> Path:
    """``alembic`` or ``fixtures``: the packaged copy if installed from a wheel, else the
    checkout's (the environment's ``RESCUE_DATA_DIR`` first, when set)."""
    override = os.environ.get("RESCUE_DATA_DIR")
    if override:
        return Path(override) / name
    packaged = PACKAGED / name
    return packaged if packaged.is_dir() else CHECKOUT / name
