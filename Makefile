SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
# Exact versions with hashes (make lock): the runtime for `make run`, the runtime and test tools for the rest.
RUNTIME_LOCK := requirements/runtime.txt
TEST_LOCK := requirements/test.txt
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
LOCK_VENV := .venv-lock
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --upgrade --generate-hashes --strip-extras --allow-unsafe \
	--no-emit-index-url --no-emit-find-links
HOST ?= 127.0.0.1
PORT ?= 8000
# Interpreter for the venv; found automatically (python3.11, else python3 if it is 3.11) when empty.
PYTHON ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test unit lint fmt lock bench bench-scale wsdl clean distclean

help:
	@echo "make venv       create $(VENV) and install the project with its test tools (from $(TEST_LOCK))"
	@echo "make run        migrate, load demo data, then serve on $(HOST):$(PORT) (HOST=0.0.0.0 PORT=8001 to change)"
	@echo "make test       run pytest (extra arguments: PYTEST_ARGS='-k name -x')"
	@echo "make unit       run the unit tests only (tests/unit)"
	@echo "make lint       ruff (rules and formatting), mypy --strict and the import contracts (lint-imports)"
	@echo "make fmt        ruff format, then ruff check --fix (rewrites files in src, tests and benchmarks)"
	@echo "make lock       re-resolve $(RUNTIME_LOCK) and $(TEST_LOCK) from pyproject.toml (newest allowed versions)"
	@echo "make bench      run the benchmarks (batch throughput, the read path, the change feed)"
	@echo "make bench-scale  read latency on a 10M-achievement PostgreSQL database vs a 10k one (SCALE=0.01 for a small run)"
	@echo "make wsdl       regenerate wsdl/ExternalService.wsdl"
	@echo "make clean      remove caches and build output (distclean also removes $(VENV))"

venv: $(TEST_STAMP)

$(BIN)/python:
	@py="$(PYTHON)"; \
	if [ -z "$$py" ]; then py="$$(command -v python3.11 || true)"; fi; \
	if [ -z "$$py" ] && command -v python3 >/dev/null \
	   && python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then \
	  py="$$(command -v python3)"; \
	fi; \
	if [ -z "$$py" ]; then echo "error: Python 3.11 is required (python3.11, or python3 at 3.11)" >&2; exit 1; fi; \
	echo "creating $(VENV) with $$py"; \
	"$$py" -m venv $(VENV)

# The stamps make repeated runs cheap: reinstall only when a lock file or the packaging changes. The locked
# dependencies are installed with their hashes checked; the project itself then without dependencies.
$(RUNTIME_STAMP): $(RUNTIME_LOCK) pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install --require-hashes -r $(RUNTIME_LOCK)
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

$(TEST_STAMP): $(TEST_LOCK) pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install --require-hashes -r $(TEST_LOCK)
	$(BIN)/python -m pip install --no-deps -e .
	touch $@

run: $(RUNTIME_STAMP)
	$(BIN)/lrs-ws db upgrade
	$(BIN)/lrs-ws demo-data
	$(BIN)/lrs-ws serve --host $(HOST) --port $(PORT)

lock:
	@[ -x $(LOCK_VENV)/bin/pip-compile ] || { $(MAKE) --no-print-directory $(BIN)/python \
	  && $(BIN)/python -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install 'pip-tools==7.6.*'; }
	$(PIP_COMPILE) --output-file=$(RUNTIME_LOCK) pyproject.toml
	$(PIP_COMPILE) --extra=test --output-file=$(TEST_LOCK) pyproject.toml

# pytest exits 5 when a selection matches no test; that is not a failure, anything else non-zero is.
test: $(TEST_STAMP)
	@rc=0; \
	echo "$(BIN)/python -m pytest $(PYTEST_ARGS)"; \
	$(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): not counted as a failure"; rc=0; fi; \
	exit $$rc

unit: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(TEST_STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: venv
	@if [ -f benchmarks/run.py ]; then \
	  echo "$(BIN)/python -m benchmarks.run"; \
	  $(BIN)/python -m benchmarks.run; \
	else \
	  echo "no benchmarks/run.py: nothing to run"; \
	fi
	$(BIN)/python -m benchmarks.read
	$(BIN)/python -m benchmarks.feed

# Generates a 10M-achievement PostgreSQL database (about half an hour and 10 GB on a small machine): never part
# of `make test` or `make bench`.
SCALE ?= 1
bench-scale: venv
	$(BIN)/python -m benchmarks.scale --scale $(SCALE)

# Written through a temporary file so a failing command never leaves a truncated WSDL behind.
wsdl: venv
	@mkdir -p wsdl
	$(BIN)/lrs-ws wsdl > wsdl/ExternalService.wsdl.tmp || { rm -f wsdl/ExternalService.wsdl.tmp; exit 1; }
	mv wsdl/ExternalService.wsdl.tmp wsdl/ExternalService.wsdl

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(LOCK_VENV)
