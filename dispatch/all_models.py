"""Imports every module that defines tables, so ``Base.metadata`` is complete (Alembic, tests).

Add one line per new models module.
"""

from dispatch.models import Base

__all__ = ["Base"]
