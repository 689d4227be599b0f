# Partnerflow: `make up` runs it, `make test` tests it. Both bootstrap .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test lint format histories screenshots bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

up: $(STAMP)
	$(PY) -m partnerflow.devstack

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Re-record the workflow histories that tests/test_replay.py replays (commit the result).
histories: $(STAMP)
	PARTNERFLOW_RECORD_HISTORIES=1 $(PY) -m pytest -q -k "sqlite and (articles_installation or moved_deadline or end_to_end)"

# The browser tests, keeping their screenshots of the main pages for the README (commit them).
screenshots: $(STAMP)
	PARTNERFLOW_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/test_browser.py

# The benchmark (bench/): one run on a dev server of its own; results in bench/results/.
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
