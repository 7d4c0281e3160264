# Quick start:  make figures   (every figure into figures/out/)
#               make test      (lint + the whole test suite)
#               make docs      (the documentation site into site/; make docs SITE=dir: into dir)
# Both create .venv on first use with torch 2.13.0 (the CPU wheel where pip serves it, as on
# the project's machines) and the project in editable mode.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SITE ?= site

.PHONY: install install-docs figures test lint docs clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,cluster]'
	touch $@

install-docs: $(VENV)/.installed-docs

$(VENV)/.installed-docs: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,cluster,docs]'
	touch $@

figures: install
	$(PY) -m lstmlif figures

lint: install
	$(PY) -m ruff check .

test: lint
	$(PY) -m pytest -q

# MkDocs with warnings as errors; the notebooks are executed into the pages
# (LSTMLIF_DOCS_EXECUTE=false skips that for a quick look).
docs: install-docs
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir "$(abspath $(SITE))"

clean:
	rm -rf $(VENV) figures/out site .pytest_cache .ruff_cache .hypothesis
