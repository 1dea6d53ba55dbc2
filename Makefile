# Diffusion Playground: the two commands the README promises.
#   make run    install runtime dependencies and start the app on http://127.0.0.1:7860
#   make test   install development dependencies (and headless Chromium) and run every test
PYTHON ?= python3
PIP := $(PYTHON) -m pip install --disable-pip-version-check -q

.PHONY: run test install install-dev screenshots

install:
	$(PIP) -r requirements.txt

install-dev:
	$(PIP) -r requirements-dev.txt
	bash scripts/ensure_chromium.sh

run: install
	$(PYTHON) app.py

test: install-dev
	$(PYTHON) -m pytest

screenshots: install-dev
	$(PYTHON) scripts/screenshots.py
