# AI System Lab — two commands do all the set-up on a fresh machine:
#   make run    create .venv if missing, install the pinned requirements, start the app on localhost:8501
#   make test   the same plus dev requirements, then the whole suite (browser tests included)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PYTEST_ARGS ?=

.PHONY: run test test-fast bench lint clean static

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

static: $(VENV)/.req-stamp
	$(PY) -m ui.netron_assets

run: $(VENV)/.req-stamp static
	$(PY) -m streamlit run app.py --server.address localhost --server.port 8501

# Engine, pages (AppTest) and lint in parallel on both cores; then the real-browser tests alone.
test: $(VENV)/.dev-stamp static
	$(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/browser $(PYTEST_ARGS) tests
	$(PY) -m pytest -q -p no:xdist $(PYTEST_ARGS) tests/browser

test-fast: $(VENV)/.dev-stamp static
	$(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/browser -m "not slow" tests

bench: $(VENV)/.dev-stamp static
	$(PY) -m bench.run

lint: $(VENV)/.dev-stamp
	$(VENV)/bin/hadolint Dockerfile

clean:
	rm -rf $(VENV) static/netron .pytest_cache .hypothesis
