# Everything a fresh machine needs: `make demo` (the main job) and `make test`.
# Both create the virtual environment in .venv and install cyclip into it first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.cyclip-installed

.PHONY: install demo demo-quick test test-slow lint format bench bench-quick clean

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
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest --run-slow -m slow

# The committed benchmark numbers (benchmarks/results, ~20 min on an idle machine), and a
# minutes-long check of the harness's plumbing at small sizes (into the git-ignored out/).
bench: $(STAMP)
	$(BIN)/python benchmarks/run.py --out benchmarks/results

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --out out/bench-quick --quick

format: $(STAMP)
	$(BIN)/ruff format $(PY_DIRS)
	$(BIN)/ruff check --fix $(PY_DIRS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
