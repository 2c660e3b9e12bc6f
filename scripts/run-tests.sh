#!/usr/bin/env bash
# The whole suite: everything but the browser tests, then the browser tests in their own
# pytest process (Chromium and the server subprocesses they start stay out of the first run).
set -uo pipefail
PY=${PYTHON:-.venv/bin/python}
# Quality gates first: ruff clean, and no file with more mypy errors than its baseline.
"$PY" -m ruff check . || exit 1
"$PY" scripts/typecheck.py || exit 1
"$PY" -m pytest -q -p no:cacheprovider -m "not browser" "$@"
first=$?
"$PY" -m pytest -q -p no:cacheprovider -m browser "$@"
second=$?
[ $second -eq 5 ] && second=0   # no browser test collected is not a failure
exit $(( first != 0 ? first : second ))
