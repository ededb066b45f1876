# The two commands a newcomer needs (README.md): `make start` and `make test`.
# Each installs what it needs first. Everything else here serves those two.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/voiceflow_admin
REDIS_URL ?= redis://127.0.0.1:6379/14
# Test processes side by side (pytest-xdist): each has its own database, sandbox and task queue.
# Four on a 2-core machine: much of the suite waits on sockets, workers and browsers, not the CPU.
TEST_PROCESSES ?= 4

.PHONY: start test test-embedded test-production-path install install-dev lint format bench screenshots

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

.env:
	$(PYTHON) scripts/ensure_env.py

install: $(VENV)/.installed .env
install-dev: $(VENV)/.installed-dev .env

## Start the whole product: web (http://127.0.0.1:8000), a Celery worker, the sandbox with demo data.
start: install
	$(PY) scripts/start.py

## Run the whole test suite: on the embedded defaults, then the production path on PostgreSQL + Redis.
test: install-dev
	bash scripts/ensure-test-tools
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(MAKE) --no-print-directory test-embedded test-production-path

test-embedded:
	$(PY) -m pytest -n $(TEST_PROCESSES)

test-production-path:
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(PY) -m pytest -n $(TEST_PROCESSES) -m production_path

lint: install-dev
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev
	bash scripts/ensure-test-tools
	$(PY) bench/run.py

## Refresh the pictures in docs/screenshots/ from the browser tests.
screenshots: install-dev
	UPDATE_SCREENSHOTS=1 $(PY) -m pytest -m browser
