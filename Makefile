SHELL := /bin/bash

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Interpreter for the venv; found automatically (python3.11, else python3 if it is 3.11) when empty.
PYTHON ?=
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test lint bench wsdl clean distclean

help:
	@echo "make venv       create $(VENV) and install the project with its test extras"
	@echo "make run        load demo data, then serve on 127.0.0.1:8000"
	@echo "make test       run pytest (extra arguments: PYTEST_ARGS='-k name -x')"
	@echo "make lint       ruff and mypy"
	@echo "make bench      run the benchmarks"
	@echo "make wsdl       regenerate wsdl/ExternalService.wsdl"
	@echo "make clean      remove caches and build output (distclean also removes $(VENV))"

venv: $(STAMP)

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

# The stamp makes repeated runs cheap: reinstall only when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

run: venv
	$(BIN)/lrs-ws demo-data
	$(BIN)/lrs-ws serve

# pytest exits 5 when a selection matches no test; that is not a failure, anything else non-zero is.
test: venv
	@rc=0; \
	echo "$(BIN)/python -m pytest $(PYTEST_ARGS)"; \
	$(BIN)/python -m pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): not counted as a failure"; rc=0; fi; \
	exit $$rc

lint: venv
	$(BIN)/ruff check src tests
	$(BIN)/mypy

bench: venv
	@if [ -f benchmarks/run.py ]; then \
	  echo "$(BIN)/python -m benchmarks.run"; \
	  $(BIN)/python -m benchmarks.run; \
	else \
	  echo "no benchmarks/run.py: nothing to run"; \
	fi

# Written through a temporary file so a failing command never leaves a truncated WSDL behind.
wsdl: venv
	@mkdir -p wsdl
	$(BIN)/lrs-ws wsdl > wsdl/ExternalService.wsdl.tmp || { rm -f wsdl/ExternalService.wsdl.tmp; exit 1; }
	mv wsdl/ExternalService.wsdl.tmp wsdl/ExternalService.wsdl

clean:
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
