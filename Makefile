# Quick start:  make test      (lint, the documentation site with the notebooks executed, then
#                               the whole test suite against that site; the slowest 15 tests)
#               make figures   (every figure into figures/out/)
#               make docs      (the documentation site into site/; make docs SITE=dir: into dir)
# Every target first creates .venv (once) with torch 2.13.0 (the CPU wheel where pip serves it,
# as on the project's machines), the project in editable mode with the extras test, cluster and
# docs, and the peer libraries whose NIR files the tests read (PEERS: not dependencies of
# lstmlif, so installed without theirs). The docs test screenshots the site in headless Chromium
# where one is installed (Debian: apt-get install chromium; .ci/run does).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SITE ?= site
TORCH ?= torch==2.13.0
PEERS ?= snntorch==1.0.0 norse==1.1.0 spikingjelly==2.0.0 nirtorch==2.6 loguru==0.8.0
STAMP := $(VENV)/.installed-test-cluster-docs-peers

.PHONY: install install-docs figures test lint docs clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test,cluster,docs]'
	$(PY) -m pip install -q --no-deps $(PEERS)
	touch $@

install-docs: install

figures: install
	$(PY) -m lstmlif figures

lint: install
	$(PY) -m ruff check .

# MkDocs with warnings as errors; docs/hooks.py executes each notebook once into the site
# (LSTMLIF_DOCS_EXECUTE=false skips that for a quick look).
docs: install
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict --site-dir "$(abspath $(SITE))"

# The tests check the site just built (its pages, links and executed notebooks) rather than
# building and executing it a second time; pytest-xdist runs them on both cores (-n 2).
test: lint docs
	LSTMLIF_SITE="$(abspath $(SITE))" $(PY) -m pytest -q -n 2 --durations=15

clean:
	rm -rf $(VENV) figures/out site .pytest_cache .ruff_cache .hypothesis
