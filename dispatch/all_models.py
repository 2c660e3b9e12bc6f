"""Imports every module that defines tables, so ``Base.metadata`` is complete (Alembic, tests).

Add one line per new models module.
"""

from dispatch.calls import models as _calls_models  # noqa: F401  (issue 15)
from dispatch.elevators import indexes as _elevator_indexes  # noqa: F401  (issue 13)
from dispatch.models import Base
from dispatch.notifications import models as _notifications  # noqa: F401  (issue 5)
from dispatch.partners import models as _partners_models  # noqa: F401  (issue 14)
from dispatch.planning import models as _planning_models  # noqa: F401  (issue 17)
from dispatch.registry import models as _registry_models  # noqa: F401  (issue 13)
from dispatch.reports import models as _reports_models  # noqa: F401  (issue 8)
from dispatch.security import models as _security_models  # noqa: F401  (issue 12)
from dispatch.teams import models as _teams_models  # noqa: F401  (issue 13)
from dispatch.telemetry import liveness_models as _liveness_models  # noqa: F401  (issue 19)
from dispatch.telemetry import models as _telemetry_models  # noqa: F401  (issue 7)

__all__ = ["Base"]
