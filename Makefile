# pipe-service: `make run` sets up and serves on the embedded defaults; `make test` sets up and
# runs lint, types and the test suite. Everything installs into ./.venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Open WebUI 0.12.4 for the end-to-end suite lives outside the repo, reused across runs.
OWUI_VENV ?= $(HOME)/.cache/pipe-service/owui-0.12.4

.PHONY: setup run test lint types unit docs e2e bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

run: setup
	$(BIN)/pipe-service serve

lint: setup
	$(BIN)/ruff check pipe_service actors tests

types: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest

test: lint types unit

e2e: setup
	OWUI_VENV=$(OWUI_VENV) scripts/owui_venv.sh
	OWUI_VENV=$(OWUI_VENV) $(BIN)/pytest -m e2e tests/e2e

bench: setup
	$(BIN)/pipe-service bench

docs: setup
	$(BIN)/pipe-service config --update-docs docs/configuration.md

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
