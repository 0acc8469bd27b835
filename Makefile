# Two set-up commands: `make demo` and `make test`. Everything else is a step they call.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
IOC := $(VENV)/bin/ioc
STAMP := $(VENV)/.installed

.PHONY: demo test soak venv system-deps services-up services-down lint clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(IOC) models prepare || echo "ioc: detection model not prepared; cameras that need it are skipped"
	$(IOC) demo

system-deps:
	bash scripts/system-deps.sh

services-up: venv system-deps
	$(IOC) services up

services-down: venv
	$(IOC) services down

# The tests, then the lint and the strict type check of every package: a finding fails the run like a test.
test: services-up
	$(VENV)/bin/pytest
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

soak: services-up
	$(VENV)/bin/pytest -m soak tests/integration/test_soak.py

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache
