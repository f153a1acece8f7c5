# Higgs: `make run` serves the product at http://localhost:8000, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The first interpreter of 3.12 or newer (.python-version selects 3.13 under pyenv).
PYTHON ?= $(shell for p in python3.13 python3.12 python3; do \
	if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; \
	then echo $$p; break; fi; done)

.PHONY: help install install-dev run static test chromium lint clean

help:
	@echo "make run     start the web server and the worker at http://localhost:$(PORT)"
	@echo "make test    run every test"
	@echo "make lint    ruff check and format check"

$(VENV)/.python-ok:
	@if [ -z "$(PYTHON)" ]; then \
		echo "Higgs needs Python 3.12 or newer, and none was found (tried python3.13, python3.12, python3)." >&2; \
		echo "Install one, e.g. 'pyenv install 3.13' or your system's python3.13 package, then run make again." >&2; \
		exit 1; fi
	@if [ -x $(PY) ] && ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then rm -rf $(VENV); fi
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip
	@touch $@

$(VENV)/.installed: requirements.txt | $(VENV)/.python-ok
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/.python-ok
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

run: install static
	$(PY) manage.py migrate --noinput
	$(PY) manage.py prepare_catalogue
	@if [ -n "$${API_ANONYMOUS_USER:-}" ]; then $(PY) manage.py create_anonymous_api_user "$$API_ANONYMOUS_USER"; fi
	@echo "Higgs at http://localhost:$(PORT) (API docs: http://localhost:$(PORT)/api/docs). Ctrl-C stops it."
	@echo "Sign up at http://localhost:$(PORT)/accounts/signup/; for the API, make a token:"
	@echo "  $(PY) manage.py create_api_token <your user name>"
	SECURE_HTTPS=0 LOG_FORMAT=$${LOG_FORMAT:-text} exec $(VENV)/bin/honcho start -f Procfile -p $(PORT)

# Static files collected and compressed ahead, as in production (served with hashed names).
static: install
	@HIGGS_COLLECTING_STATIC=1 $(PY) manage.py collectstatic --noinput -v0

test: install-dev chromium static
	$(VENV)/bin/pytest

# The browser tests drive Debian's Chromium (Playwright's own browser download does not work everywhere).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Chromium for the browser tests (apt-get)..."; \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
