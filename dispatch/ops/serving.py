"""What ``rescue serve`` sets up before uvicorn starts its workers.

Prometheus' multi-process mode is chosen when ``prometheus_client`` is first imported, from
``PROMETHEUS_MULTIPROC_DIR``; uvicorn's workers are fresh interpreters that inherit the
environment, so setting it here (before they start) is enough. Each run gets its own empty
directory: values left by a previous run's workers would otherwise be added to this one's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from dispatch.ops.logs import uvicorn_log_config
from dispatch.settings import Settings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def multiprocess_dir(settings: Settings, workers: int) -> Path | None:
    """Set up (and export) the metrics directory for a multi-worker run; None for one worker.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is kept (emptied of old values); otherwise
    ``<var_dir>/prometheus/run-<pid>``, and directories of runs whose process is gone are
    removed."""
    configured = os.environ.get(ENV)
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        for old in path.glob("*.db"):
            old.unlink()
        return path
    if workers <= 1:
        return None
    base = (settings.var_dir / "prometheus").resolve()
    base.mkdir(parents=True, exist_ok=True)
    for old in base.glob("run-*"):
        pid = old.name.removeprefix("run-")
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    path = base / f"run-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    os.environ[ENV] = str(path)
    return path


def uvicorn_options(settings: Settings, workers: int) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``: our log format from the first line, and no
    access log (the request middleware writes one line per request, with the route template
    rather than the raw path and its ``?token=`` query string)."""
    multiprocess_dir(settings, workers)
    return {"log_config": uvicorn_log_config(settings.log_format, settings.log_level),
            "log_level": settings.log_level.lower(), "access_log": False}
