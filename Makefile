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

.PHONY: help install install-dev run test chromium lint clean

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

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py prepare_catalogue
	@if [ -z "$${API_ANONYMOUS_USER+set}" ] && ! grep -qs '^API_ANONYMOUS_USER=' .env; then \
		export API_ANONYMOUS_USER=demo; \
		echo "API calls without credentials act as the local user 'demo' (set API_ANONYMOUS_USER= to turn this off)."; \
	fi; \
	echo "Higgs at http://localhost:$(PORT) (API docs: http://localhost:$(PORT)/api/docs). Ctrl-C stops it."; \
	exec $(VENV)/bin/honcho start -f Procfile -p $(PORT)

test: install-dev chromium
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
