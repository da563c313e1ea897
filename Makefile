# The two commands a newcomer runs: `make up` (the local stack) and `make test` (the tests).
# Each sets itself up: a Python 3.11 virtual environment with pinned packages, and the
# system services the tests need (redis-server, PostgreSQL) through apt-get where missing.

PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS ?= service,export,local,bench,dev

.PHONY: setup up test test-unit lint export bench bench-quick services clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (e.g. pyenv install 3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: a looser requirement would pull several GB of CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $(STAMP)

services:
	bash local_stack/system_services.sh

up: setup
	@command -v redis-server >/dev/null || bash local_stack/system_services.sh
	$(VENV)/bin/hybrid-inference up

test: setup services
	$(VENV)/bin/pytest -q

test-unit: setup
	$(VENV)/bin/pytest -q tests/unit

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

export: setup
	$(VENV)/bin/hybrid-inference export all

# Benchmarks start their own Triton, Redis, database, API and workers (see benchmarks/README.md).
# PostgreSQL is used when it answers on 127.0.0.1:5432, SQLite otherwise.
bench: setup
	@command -v redis-server >/dev/null || bash local_stack/system_services.sh
	$(VENV)/bin/hybrid-inference bench --out benchmarks/results

bench-quick: setup
	@command -v redis-server >/dev/null || bash local_stack/system_services.sh
	$(VENV)/bin/hybrid-inference bench --quick --out benchmarks/results/quick

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
