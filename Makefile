# Partnerflow: `make up` runs it, `make test` tests it. Both bootstrap .venv from pyproject.toml.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up test lint format histories screenshots bench bench-scale chaos clean

# Bytecode caches on, also where the environment turns them off (PYTHONDONTWRITEBYTECODE):
# otherwise every test worker, API, worker and render child compiles the project again, and
# pytest rewrites the assertions of ~275 plugin modules again, at each start (~2 s of CPU).
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

up: $(STAMP)
	$(PY) -m partnerflow.devstack

# Three pytest workers (pytest-xdist), each with its own Temporal servers. One worker keeps
# less than a core busy (it waits on Temporal, the database or a timeout); three keep this
# machine's two cores busy, a fourth only adds contention: tests/system, tests/api/web and
# tests/workflows (565 tests) took 3 min 49 s with three, 4 min 8 s with two, 4 min 32 s with
# four (and a fifth more CPU time). Work stealing; the crash tests (marker `chaos`) start
# first (tests/conftest.py), so their minute-long waits pass beside the other workers' tests.
TEST_WORKERS ?= 5
test: $(STAMP)
	$(PY) -m compileall -q -j 0 api partnerflow workflows activities worker.py tests bench
	$(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Record the current workflow code's histories into tests/histories/v<N>/ (commit them): every
# message and timer path. Older versions' histories are kept; tests/workflows/test_replay.py replays all.
histories: $(STAMP)
	PARTNERFLOW_RECORD_HISTORIES=1 $(PY) -m pytest -q tests/workflows/test_recorded_paths.py tests/workflows/test_conditions_review.py tests/workflows/test_continue_as_new.py tests/api/test_revoked_partner.py tests/workflows/test_read_model_rewrite.py tests/workflows/test_offers.py -k "sqlite and (not refuses and not never_lost) and (not revoked_partner or share_to_the_contact)"

# The browser tests, keeping their screenshots of the main pages and of a process in the
# Temporal UI (a dev server with its UI) for the README (commit them).
screenshots: $(STAMP)
	PARTNERFLOW_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/api/web/test_browser.py tests/api/web/test_browser_german.py tests/api/web/test_browser_staff_german.py tests/system/test_temporal_ui_screenshot.py

# The benchmark (bench/): the product through HTTP against bare Temporal, alternating, on an
# in-memory and a file-backed dev server of its own; results in bench/results/latest.{md,json}.
# A smoke run: make bench BENCH_ARGS=--quick
bench: $(STAMP)
	$(PY) -m bench.run $(BENCH_ARGS)

# Scale (not part of `make test` nor CI): first bench.lists measures the two lists with 100,000
# processes written directly into the read model, no workflow run, on SQLite and PostgreSQL (a few
# minutes; bench/results/lists.{md,json}). Then (up to an hour) SCALE_N open processes with armed
# deadline timers, then RSS, list latencies, timers' lateness, a worker restart; results in
# bench/results/scale.{md,json}. A smoke run:
# make bench-scale SCALE_N=500 BENCH_LISTS_ARGS="--processes 5000 --per-partner 500"
SCALE_N ?= 100000
bench-scale: $(STAMP)
	$(PY) -m bench.lists $(BENCH_LISTS_ARGS)
	$(PY) -m bench.scale --processes $(SCALE_N) $(BENCH_SCALE_ARGS)

# Chaos (not part of `make test`): N processes through the API while the worker, Temporal and an
# API process are killed with SIGKILL, ROUNDS times each; prints lost steps, duplicate e-mails,
# read-model mismatches and stuck processes per database (DATABASE=sqlite,postgresql for both).
N ?= 200
ROUNDS ?= 3
DATABASE ?= sqlite
chaos: $(STAMP)
	$(PY) -m bench.chaos --processes $(N) --rounds $(ROUNDS) --database $(DATABASE) $(CHAOS_ARGS)

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
