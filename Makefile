# AI System Lab — two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install the pinned requirements, start the app on localhost:8501
#   make test   the same plus dev requirements, then the whole suite (browser tests included)
#   make help   every target with one line on what it does
# Plain `make` only creates .venv (the first rule below); it starts nothing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PYTEST_ARGS ?=

.PHONY: help run test test-fast bench loadtest fuzz lint format clean static

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Re-install only when a requirements file changes (stamp files).
$(VENV)/.req-stamp: requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-stamp: requirements.txt requirements-dev.txt $(VENV)/.req-stamp
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

static: $(VENV)/.req-stamp  ## copy Netron's web assets into static/ (done by run and test)
	$(PY) -m ui.netron_assets

# tools/serve.py: streamlit run app.py, with jemalloc under it where Debian's libjemalloc2 is installed
# (memory a class frees goes back to the system; AISL_ALLOCATOR=pymalloc turns it off).
run: $(VENV)/.req-stamp static  ## install the runtime requirements, start the app on localhost:8501
	$(PY) -m tools.serve --server.address localhost --server.port 8501

# Engine, labs (AppTest) and lint in parallel on both cores; then the real-browser tests alone, each
# failed one rerun once (shown as R and counted as "rerun" in the summary; twice failed = failed).
test: $(VENV)/.dev-stamp static  ## the whole suite: engine, labs (AppTest), lint, then the browser tests
	$(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/browser $(PYTEST_ARGS) tests
	$(PY) -m pytest -q -p no:xdist --reruns 1 --reruns-delay 2 $(PYTEST_ARGS) tests/browser

# Leaves out what tests/slow_tests.txt lists (marked slow by tests/conftest.py) and the browser tests.
test-fast: $(VENV)/.dev-stamp static  ## the suite without slow and browser tests (under a minute)
	$(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/browser -m "not slow" tests

bench: $(VENV)/.dev-stamp static  ## the benchmarks (bench/run.py)
	$(PY) -m bench.run

# A class on one server: N students walk every lab; exits 1 on errors or RSS after > 1.10 x before.
LOAD_N ?= 30
LOAD_SECONDS ?= 300
loadtest: $(VENV)/.dev-stamp static  ## scripted lesson, N=30 students for 5 minutes (bench/lesson.py)
	$(PY) -m bench.lesson --sessions $(LOAD_N) --seconds $(LOAD_SECONDS)

# The suite's language and ONNX property tests, many more examples and fresh seeds (SEED=... to replay).
FUZZ_SECONDS ?= 600
fuzz: $(VENV)/.dev-stamp  ## longer language + ONNX fuzz, 10 minutes (tools/fuzz.py)
	$(PY) -m tools.fuzz --seconds $(FUZZ_SECONDS) $(if $(SEED),--seed $(SEED))

lint: $(VENV)/.dev-stamp  ## ruff (lint + format check) and hadolint on the Dockerfile
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile

format: $(VENV)/.dev-stamp  ## apply ruff's fixes and formatter (ruff.toml)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:  ## remove .venv, the copied Netron assets and test caches
	rm -rf $(VENV) static/netron .pytest_cache .hypothesis .ruff_cache

help:  ## this list
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "  %-10s %s\n", $$1, $$2}' \
	    $(firstword $(MAKEFILE_LIST))
