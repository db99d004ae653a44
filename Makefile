# The two set-up commands: `make demo` (the edge demo on the shipped model) and `make test`.
# Each creates or reuses .venv/ and installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.edge-installed: edge/requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r edge/requirements.txt
	touch $@

$(VENV)/.all-installed: pyproject.toml edge/requirements.txt | $(PY)
	$(PY) -m pip install --quiet -e ".[edge,train,dev]"
	touch $@ $(VENV)/.edge-installed

demo: $(VENV)/.edge-installed
	$(PY) -m edge --source demo

test: $(VENV)/.all-installed
	$(PY) -m ruff check .
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
