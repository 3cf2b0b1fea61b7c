# Everything a fresh machine needs: `make demo` (the main job) and `make test`.
# Both create the virtual environment in .venv and install cyclip into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cyclip-installed

.PHONY: install demo demo-quick test test-slow lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cyclip demo

demo-quick: $(STAMP)
	$(BIN)/cyclip demo --quick

PY_DIRS := $(wildcard src tests benchmarks experiments)

lint: $(STAMP)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

test: lint
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest --run-slow -m slow

format: $(STAMP)
	$(BIN)/ruff format $(PY_DIRS)
	$(BIN)/ruff check --fix $(PY_DIRS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
