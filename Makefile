# The two set-up commands: `make demo` (the edge demo on the shipped model) and `make test`.
# Each creates or reuses .venv/ and installs what it needs first. `make image` builds the container image
# (docs/container.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

# The container image and its base: a local base (localhost/...) is built from Debian's packages when missing
# (container/base.sh, as root); another, such as docker.io/library/python:3.11-slim-bookworm, is pulled.
# PIP_CERT (pip's own setting, when the host has one) reaches the build as a secret, never the image.
PODMAN ?= podman
IMAGE ?= localhost/fer-edge:latest
BASE ?= localhost/fer-edge-base:bookworm

.PHONY: demo test lint clean image

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

image:
	case "$(BASE)" in localhost/*) $(PODMAN) image exists "$(BASE)" || container/base.sh "$(BASE)";; esac
	$(PODMAN) build --format docker --network=host --build-arg BASE="$(BASE)" \
	  $(if $(PIP_CERT),--secret id=pip_cert$(comma)src="$(PIP_CERT)") -t "$(IMAGE)" .

comma := ,

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
