# The two commands of the README: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint lock bench clean-db fuzz

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || (echo "python venv missing: installing python3-venv" && \
	  apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV))
	@$(BIN)/pip install -q --upgrade pip

# Installs pin every package to the versions the suite was run with (requirements.lock);
# `make lock` rewrites the lock from the current venv after an upgrade has passed `make test`.
$(STAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install -q -c requirements.lock -e .
	@touch $@

$(DEVSTAMP): pyproject.toml requirements.lock | $(BIN)/python
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	@touch $@ $(STAMP)

run: $(STAMP)
	$(BIN)/rescue db upgrade
	$(BIN)/rescue fixtures load taiyuan --if-empty
	$(BIN)/rescue fixtures history --days 90 --if-empty
	$(BIN)/rescue users demo
	$(BIN)/rescue serve --host $(HOST) --port $(PORT)

test: $(DEVSTAMP)
	PYTHON=$(BIN)/python scripts/test-services.sh scripts/run-tests.sh $(PYTEST_ARGS)

# issue 12: property-based fuzz of the OpenAPI document (in-process, fresh SQLite); 0 5xx
fuzz: $(DEVSTAMP)
	PYTHONPATH=. $(BIN)/python scripts/fuzz.py --examples $(or $(EXAMPLES),25)

lint: $(DEVSTAMP)
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py

lock: $(DEVSTAMP)
	$(BIN)/pip freeze --exclude-editable | grep -v '^elevator-rescue' > requirements.lock

clean-db:
	rm -f var/rescue.db var/rescue.db-wal var/rescue.db-shm
