# The two commands of the README:
#   make run    install everything, start the simulator and dmportal on it
#   make test   install everything and run the whole test suite: lint, dependency audit, Django
#               checks, unit + browser tests on SQLite and again on PostgreSQL + Redis, and
#               the 2-minute soak test
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SDK_PYTHON := var/sdk-venv/bin/python

.PHONY: install run test lint audit checks pytest pytest-postgres soak browsers sdk-venv benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/python -m dmportal.demo

# Debian's Chromium for the browser tests (Playwright cannot download its own here).
browsers:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; }

# The official Python SDK lives in its own virtualenv (its pins clash with ours).
sdk-venv:
	bash scripts/sdk_venv.sh >/dev/null

# ruff includes C90 (complexity at most 12, pyproject.toml). What may import what and how long
# a function may be are tests/test_architecture.py's, part of every pytest run.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

checks: install
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py check --fail-level WARNING
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py makemigrations --check --dry-run
	env DEBUG=false DMPORTAL_HTTPS=true DMPORTAL_ENV_FILE=/nonexistent \
	  SECRET_KEY="deploy-check-$$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')" \
	  DMPORTAL_ENCRYPTION_KEYS="$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	  ALLOWED_HOSTS=dmportal.example.com DATABASE_URL=sqlite://:memory: \
	  $(BIN)/python manage.py check --deploy --fail-level WARNING

TEST_ENV := DMPORTAL_SDK_PYTHON=$(CURDIR)/$(SDK_PYTHON) DMPORTAL_REQUIRE_SDK=1 \
  DMPORTAL_REQUIRE_BROWSER=1

pytest: install browsers sdk-venv
	$(TEST_ENV) $(BIN)/pytest

# The whole suite again on the production profile's shared services: a throw-away PostgreSQL
# and Redis from Debian's packages (scripts/services.sh sets DATABASE_URL and CACHE_URL).
# tests/deploy/ runs only here: two app servers on them, migrations from an empty database.
pytest-postgres: install browsers sdk-venv
	$(TEST_ENV) DMPORTAL_REQUIRE_SERVICES=1 bash scripts/services.sh $(BIN)/pytest

# Known vulnerabilities in the pinned dependencies (pip-audit; see the script for when the
# advisory service cannot be reached).
audit: install
	bash scripts/audit.sh

# The bounded load test: 50 users for 2 minutes on a simulator failing 2% of API calls, on
# SQLite (one machine) and on PostgreSQL + Redis (the production profile).
soak: install
	$(BIN)/pytest -m soak -s tests/load
	bash scripts/services.sh $(BIN)/pytest -m soak -s tests/load

test: lint audit checks pytest pytest-postgres soak

# The load test uses wrk when it is there (else a Python client); the SDK comparison needs its venv.
benchmark: install sdk-venv
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -q wrk >/dev/null 2>&1 || \
	  echo "wrk is not installed: the load test will use its Python client"
	$(BIN)/python -m tests.benchmarks.run

clean:
	rm -rf $(VENV) var/sdk-venv staticfiles .pytest_cache .ruff_cache
