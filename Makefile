# syncd: `make demo` and `make test` each set up their own virtual environment.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: setup demo serve screenshot test lint format bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "syncd needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/syncd demo

# The daemon over the same default database: schedules, the API and the
# dashboard (its URL and a key to sign in with are printed by `make demo`).
serve: setup
	$(BIN)/syncd serve

# docs/dashboard.png: the integration details page, rendered in headless
# Chromium from a demo database of its own.
screenshot: setup
	bash scripts/ensure-chromium.sh
	$(BIN)/python scripts/dashboard_screenshot.py docs/dashboard.png

# Tests run in one worker per core (at most four): most of their time is
# CLI and daemon subprocesses starting up, which one process runs one at a
# time. Work stealing keeps a worker from idling while another still holds
# a queue of slow tests.
TEST_WORKERS ?= auto

test: setup
	bash scripts/ensure-postgres.sh
	bash scripts/ensure-chromium.sh
	$(BIN)/pytest --numprocesses=$(TEST_WORKERS) --maxprocesses=4 --dist=worksteal

lint: setup
	$(BIN)/ruff format --check syncd tests benchmarks
	$(BIN)/ruff check syncd tests benchmarks
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format syncd tests benchmarks
	$(BIN)/ruff check --fix syncd tests benchmarks

bench: setup
	bash scripts/ensure-postgres.sh
	$(BIN)/python benchmarks/sync_buildium.py --records 100000 --large 1000000
	$(BIN)/python benchmarks/connectors.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
