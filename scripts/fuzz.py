"""``make fuzz``: a longer property-based fuzz of the OpenAPI document against the app
in-process, on a fresh SQLite database with the small test network, as an operator and an
admin. Prints the counts; exits 1 on any 5xx. ``--examples N`` per operation and identity."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from dispatch.app import create_app
from dispatch.db import make_engine, session_factory
from dispatch.migrate import upgrade
from dispatch.security.fuzz import fuzz
from dispatch.settings import Settings
from tests import factories
from tests.dispatch import scenario


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=25)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="rescue-fuzz-"))
    url = f"sqlite:///{tmp / 'fuzz.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as s:
        scenario.build(s)
        factories.make_user(s, "operator", username="fuzz-op")
        factories.make_user(s, "admin", username="fuzz-admin")
        s.commit()
    settings = Settings(database_url=url, secret_key="fuzz-" + "k" * 40, var_dir=tmp,
                        run_jobs=False, login_max_failures=10**6,
                        login_max_failures_per_address=10**6)
    app = create_app(settings)
    with TestClient(app) as client:
        headers = []
        for name in ("fuzz-op", "fuzz-admin"):
            r = client.post("/api/v1/auth/token",
                            data={"username": name, "password": factories.PASSWORD})
            headers.append({"Authorization": f"Bearer {r.json()['access_token']}"})
        report = fuzz(app, headers=headers, max_examples=args.examples)
    print(f"fuzz: {report.operations} operations, {report.requests} requests, "
          f"{dict(sorted(report.by_class.items()))}, 5xx: {len(report.server_errors)}")
    for line in report.server_errors[:20]:
        print("  ", line)
    return 1 if report.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
