"""Run mypy and hold the line: no file may have more errors than ``scripts/mypy-baseline.json``
records (new files: none). The baseline only goes down: ``--update`` rewrites it, and refuses
to raise any count (``--update --first`` wrote the first one)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "scripts" / "mypy-baseline.json"
ERROR = re.compile(r"^(?P<path>[^:\s]+\.py):\d+: error:")


def current() -> tuple[Counter[str], str]:
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-color-output"], cwd=ROOT,
                         capture_output=True, text=True, check=False).stdout
    counts: Counter[str] = Counter()
    for line in out.splitlines():
        m = ERROR.match(line)
        if m:
            counts[m["path"]] += 1
    return counts, out


def main() -> int:
    counts, out = current()
    baseline: dict[str, int] = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    worse = {p: (baseline.get(p, 0), n) for p, n in counts.items() if n > baseline.get(p, 0)}
    if "--update" in sys.argv:
        if worse and "--first" not in sys.argv:
            print(f"refusing to raise the baseline: {worse}")
            return 1
        BASELINE.write_text(json.dumps(dict(sorted(counts.items())), indent=1) + "\n")
        print(f"mypy baseline: {sum(counts.values())} errors in {len(counts)} files")
        return 0
    if worse:
        print(out)
        for p, (was, now) in sorted(worse.items()):
            print(f"mypy: {p} has {now} errors, baseline {was}")
        return 1
    print(f"mypy: {sum(counts.values())} errors (baseline {sum(baseline.values())}); "
          "none new")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
