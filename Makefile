# Two commands for a fresh machine: `make run` (server on SQLite with demo data) and
# `make test` (ruff, mypy, and the whole pytest suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench docs

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[server,postgres,async,dev]'
	touch $@

$(BIN)/.docs-installed: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[server,postgres,dev,docs]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/tenantry serve --demo

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench
	$(BIN)/mypy

# The second pass: the API suites again with every tenant in a database of its own: SQLite
# files (read on the event loop), and spread over two PostgreSQL servers (docs/scaling.md).
# JOBS pytest-xdist workers, each with its own PostgreSQL, Redis and SMTP servers: on 2 cores
# two workers take ~0.6x the time of one (the tests wait on servers and subprocesses).
# --durations: the slowest tests of each run, to see where CI's minutes go.
JOBS ?= 2
test: lint
	$(BIN)/pytest -n $(JOBS) --durations=25
	TENANTRY_TEST_PLACEMENT=dedicated $(BIN)/pytest -q -n $(JOBS) tests/meterbook/api tests/tenantry/web

# Isolation cost against a bare stack, a hand-written app and fastapi-tenancy; fairness;
# writes docs/benchmarks.md and bench/results.json (about 10 min on 2 cores).
bench: $(BIN)/.installed
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run

# The docs site (MkDocs Material + mkdocstrings) into site/; any warning fails the build.
docs: $(BIN)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict
