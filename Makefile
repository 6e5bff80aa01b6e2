# Optline: two commands do all set-up — `make dev` runs the product, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export PATH := $(CURDIR)/$(BIN):$(PATH)

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required (found $$($(PYTHON) --version))"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv

$(VENV)/.runtime: requirements.lock pyproject.toml | $(BIN)/uv
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet -r requirements.lock
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock pyproject.toml $(VENV)/.runtime
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(UV) pip install --quiet -r requirements-dev.lock
	touch $@

install: $(VENV)/.runtime ## Create .venv with the runtime dependencies

install-dev: $(VENV)/.dev ## Create .venv with the test and lint tools too

dev: install ## Run web + worker + scheduler on embedded defaults (SQLite, embedded Redis, sandbox Braze)
	$(BIN)/optline dev

chromium: ## Install Debian's Chromium for the browser tests when missing (needs root)
	@if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium from Debian's packages"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
	  echo "The browser tests need Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu) and try again."; exit 1; \
	fi

node-deps: ## Install the widget build tools and axe-core (npm)
	@command -v npm >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null; else echo "npm is needed for the widget tests: install nodejs and npm"; exit 1; fi; }
	@if [ -f widget/package-lock.json ]; then cd widget && npm ci --no-audit --no-fund --silent; fi

lint: install-dev ## ruff, mypy and the layer rules
	$(BIN)/ruff check backend tests e2e bench
	$(BIN)/ruff format --check backend tests e2e bench
	$(BIN)/mypy
	$(BIN)/lint-imports

PYTEST_ARGS ?=
test: install-dev chromium node-deps lint audit ## Install what the tests need and run the whole suite
	OPTLINE_TEST_SERVICES=0 $(BIN)/pytest $(PYTEST_ARGS)
	@if [ -n "$$OPTLINE_TEST_DATABASE_URL$$OPTLINE_TEST_REDIS_URL" ]; then \
	  echo "== again against OPTLINE_TEST_DATABASE_URL / OPTLINE_TEST_REDIS_URL =="; \
	  OPTLINE_TEST_SERVICES=1 $(BIN)/pytest $(PYTEST_ARGS); \
	fi

bench: install-dev ## Run the benchmarks and print their figures (see bench/RESULTS.md)
	$(BIN)/python -m bench

faults: install-dev ## Fault-injection trials: kill -9, Redis/DB loss, Braze storms, 1 vs 3 workers
	OPTLINE_FAULTS=1 $(BIN)/pytest tests/faults -m faults $(PYTEST_ARGS)
	$(BIN)/python -m bench.faults_report
.PHONY: faults

# pip-audit asks PyPI's per-release JSON API (its vulnerability data; the probe fetches one
# release the way it does); npm audit asks the npm registry.
# Only an unreachable database skips a check; a vulnerability found always fails.
AUDIT_PYPI_PROBE := import json, sys, urllib.request as r; d = json.load(r.urlopen("https://pypi.org/pypi/pip/24.0/json", timeout=15)); sys.exit("vulnerabilities" not in d)
AUDIT_OFFLINE := ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|audit endpoint returned an error
AUDIT_PIP := $(BIN)/pip-audit --no-deps --disable-pip --progress-spinner off

audit: install-dev node-deps ## Audit the dependencies: pip-audit on the locks, npm audit on the widget
	@if ! $(BIN)/python -c '$(AUDIT_PYPI_PROBE)' >/dev/null 2>&1; then \
	  echo "pip-audit: audit skipped: vulnerability database unreachable (pypi.org JSON API)"; \
	else \
	  echo "== pip-audit: requirements.lock (runtime, strict) =="; \
	  $(AUDIT_PIP) --strict -r requirements.lock || exit 1; \
	  echo "== pip-audit: requirements-dev.lock (test and lint tools) =="; \
	  $(AUDIT_PIP) -r requirements-dev.lock || exit 1; \
	fi
	@cd widget && for scope in --omit=dev --include=dev; do \
	  echo "== npm audit $$scope --audit-level=high (widget) =="; \
	  out=$$(npm audit $$scope --audit-level=high 2>&1); rc=$$?; \
	  echo "$$out" | grep -v 'Unknown user config'; \
	  if [ $$rc -ne 0 ]; then \
	    if echo "$$out" | grep -Eq '$(AUDIT_OFFLINE)'; then \
	      echo "npm audit $$scope: audit skipped: vulnerability database unreachable"; \
	    else exit 1; fi; \
	  fi; \
	done
.PHONY: audit

fmt: install-dev ## Format the code
	$(BIN)/ruff format backend tests e2e bench
	$(BIN)/ruff check --fix backend tests e2e bench

clean: ## Remove the virtualenv and the instance folder
	rm -rf $(VENV) instance

.PHONY: help install install-dev dev chromium node-deps lint test bench fmt clean
