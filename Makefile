# The two commands of the README:
#   make run    set up (virtualenv, database, demo territory) and run the service on embedded defaults
#   make test   set up (system services, virtualenv) and run the whole test-suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: run test lint install system-deps bench

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

system-deps:
	./scripts/system-deps.sh

run: install
	$(BIN)/clausebot db upgrade
	$(BIN)/clausebot demo --si-vide
	$(BIN)/clausebot run

lint: install
	$(BIN)/ruff check .

test: system-deps install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench
