# Quick start:  make run   (analyse the bundled studies)   |   make test   (run the test suite)
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
CORES  ?= all

.PHONY: run test install install-test notebooks report docs tables lint format dryrun clean-results

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[test,cluster,docs]"
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 > /dev/null
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

## run: the whole workflow on the bundled studies (results/ and results/summary.md)
run: install
	$(BIN)/snakemake --cores $(CORES)

## test: the test suite (installs the test extras first)
test: install-test
	$(BIN)/python -m pytest --durations=25 --junitxml=reports/junit.xml

## notebooks: execute the student notebooks in place
notebooks: install-test
	$(BIN)/python -m efficacy.notebooks --in-place notebooks/*.ipynb

## docs: the documentation site (site/), with the figure gallery of the bundled run and the last test results
docs: install-test run
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

## report: the Snakemake HTML report of the last run
report: install
	$(BIN)/snakemake --cores 1 --report results/report.html

lint: install-test
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/rules/

format: install-test
	$(BIN)/snakefmt Snakefile workflow/rules/

dryrun: install
	$(BIN)/snakemake -n

clean-results:
	rm -rf results logs benchmarks/out .snakemake reports site
