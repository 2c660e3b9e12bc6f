"""kill -9 of a process pushing deliveries: nothing is lost, order is kept, the only duplicate
is the row that was in flight, with the same delivery id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Api
from tests.dispatch.partners.conftest import push
from tests.dispatch.partners.receiver import Receiver
from tests.dispatch.partners.test_push import FULL, new_incident, province, rescue

ROOT = Path(__file__).resolve().parents[3]
SENDER = """
import sys
from datetime import datetime
from dispatch.db import make_engine, session_factory
from dispatch.partners.delivery import run_partner_outbox
from dispatch.settings import Settings
settings = Settings()
factory = session_factory(make_engine(settings.database_url))
run_partner_outbox(factory, settings=settings, now=datetime.fromisoformat(sys.argv[1]))
"""


def test_kill_9_with_deliveries_pending(api: Api, net, op, admin, receiver: Receiver) -> None:
    province(api, admin, receiver)
    inc = new_incident(api, op, net)
    rescue(api, op, net, inc)
    receiver.mode, receiver.delay_s = "slow", 1.5
    env = {**os.environ, "RESCUE_DATABASE_URL": api.settings.database_url,
           "RESCUE_SECRET_KEY": api.settings.secret_key or "",
           "RESCUE_VAR_DIR": str(api.settings.var_dir)}
    proc = subprocess.Popen([sys.executable, "-c", SENDER, api.clock.now.isoformat()],
                            cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while receiver.attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.attempts == 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(1.6)  # the receiver finishes the request in flight
    receiver.mode = "ok"
    assert push(api).handled == 0  # leased by the dead sender: not yet
    api.clock.advance(seconds=2 * api.settings.partner_timeout_s + 31)
    push(api)
    assert [r.event for r in receiver.unique()] == FULL
    ids = [r.delivery_id for r in receiver.received]
    unique = [r.delivery_id for r in receiver.unique()]
    # the row in flight when the sender died arrived, and is sent again with the same id
    assert ids in ([unique[0], *unique], unique)
