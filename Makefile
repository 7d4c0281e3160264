# Quick start:  make figures   (every figure into figures/out/)
#               make test      (lint + the whole test suite)
# Both create .venv on first use with torch 2.13.0 (the CPU wheel where pip serves it, as on
# the project's machines) and the project in editable mode.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install figures test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,cluster]'
	touch $@

figures: install
	$(PY) -m lstmlif figures

lint: install
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) figures/out .pytest_cache .ruff_cache .hypothesis
