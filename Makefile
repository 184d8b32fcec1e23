# Patron: `make run` starts a local Patron; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
# Official clients, each in an environment of its own (their packages clash).
CIO_VENV := .venv-compat-customerio
CIO_STAMP := $(CIO_VENV)/.installed
CDP_VENV := .venv-compat-pipelines
CDP_STAMP := $(CDP_VENV)/.installed
NODE_DIR := tests/compat/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

export PATRON_COMPAT_CUSTOMERIO_PYTHON := $(CURDIR)/$(CIO_VENV)/bin/python
export PATRON_COMPAT_PIPELINES_PYTHON := $(CURDIR)/$(CDP_VENV)/bin/python
export PATRON_COMPAT_NODE_DIR := $(CURDIR)/$(NODE_DIR)

.PHONY: run test test-slow lint typecheck unit bench compat-envs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Each client environment also holds Patron with its pytest plugin, as a user's project would.
$(CIO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(CIO_VENV)
	$(CIO_VENV)/bin/pip install -q 'customerio==3.2.0' -e '.[testing]'
	touch $@

# customerio-cdp-analytics and segment-analytics-python live in different packages, so they share.
$(CDP_STAMP): pyproject.toml
	$(PYTHON) -m venv $(CDP_VENV)
	$(CDP_VENV)/bin/pip install -q 'customerio-cdp-analytics==1.1.0' 'segment-analytics-python==2.4.0' -e '.[testing]'
	touch $@

$(NODE_STAMP): $(NODE_DIR)/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --loglevel=error
	touch $@

compat-envs: $(CIO_STAMP) $(CDP_STAMP) $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/patron serve --dev --credentials-file .patron/credentials.json

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) compat-envs lint typecheck
	$(BIN)/pytest -m "not slow"

test-slow: $(STAMP) compat-envs
	$(BIN)/pytest -m slow

bench: $(STAMP)
	@command -v wrk >/dev/null || (apt-get install -y -q wrk >/dev/null 2>&1 || echo "wrk unavailable; using the asyncio load generator")
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf $(VENV) $(CIO_VENV) $(CDP_VENV) $(NODE_DIR)/node_modules .pytest_cache .mypy_cache .ruff_cache
