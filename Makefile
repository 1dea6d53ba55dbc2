# Diffusion Playground: the two commands the README promises, each from its own virtual environment.
#   make run    build .venv from requirements.lock and start the app on http://127.0.0.1:7860
#   make test   build .venv from requirements-dev.lock (+ Debian's headless Chromium and git-lfs), lint, test
#   make lock   re-resolve both lock files from the ranges in requirements*.txt (scripts/lock.py)
PYTHON ?= python3
VENV ?= .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip install --disable-pip-version-check -q

.PHONY: run test lint install install-dev lock screenshots

# A stamp per lock: the environment is (re)installed when its lock changes.
$(VENV)/.run-installed: requirements.lock pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements.lock
	$(PIP) --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev-installed: requirements-dev.lock pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r requirements-dev.lock
	$(PIP) --no-deps --no-build-isolation -e .
	$(VPY) -m pip check
	touch $@

install: $(VENV)/.run-installed

install-dev: $(VENV)/.dev-installed
	bash scripts/ensure_system.sh

run: install
	$(VPY) app.py

lint: install-dev
	$(VPY) -m ruff check .

test: lint
	$(VPY) -m pytest

lock:
	$(PYTHON) scripts/lock.py

screenshots: install-dev
	$(VPY) scripts/screenshots.py
