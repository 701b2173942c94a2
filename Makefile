# Set-up and the two everyday commands: `make run` and `make test`.
#
# The virtualenv lives outside the checkout, keyed by a hash of the pins, so a
# fresh clone (or CI) reuses it until requirements.txt changes; `.venv` in the
# checkout is a symlink to it.

SHELL := /bin/bash
PINS_HASH := $(shell sha256sum requirements.txt | cut -c1-16)
VENV_CACHE_ROOT ?= $(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/tfx-unirec
VENV_DIR := $(VENV_CACHE_ROOT)/venv-py310-$(PINS_HASH)
VENV_STAMP := $(VENV_DIR)/.installed
PYTHON := .venv/bin/python
CONFIG ?= pipeline/configs/default.yaml
PYTEST_ARGS ?=

export TF_CPP_MIN_LOG_LEVEL ?= 3
# The venv is shared by checkouts; this checkout's packages come first.
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))

.PHONY: venv run test clean

venv: $(VENV_STAMP)
	@ln -sfn "$(VENV_DIR)" .venv
	@# The venv is shared between checkouts: point its editable install at this one.
	@if [ "$$($(PYTHON) -c 'import os, pipeline; print(os.path.dirname(os.path.dirname(os.path.abspath(pipeline.__file__))))' 2>/dev/null)" != "$(CURDIR)" ] \
	   || [ ! -x .venv/bin/unirec ]; then \
	  $(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e . ; \
	fi

# Python 3.10 is required: TFX 1.16 is the newest TFX that runs on glibc 2.36.
$(VENV_STAMP):
	@py=""; \
	for candidate in "$$(command -v python3.10)" \
	    "$$(command -v pyenv >/dev/null && pyenv versions --bare | grep '^3\.10\.' | tail -n1 | xargs -r pyenv prefix 2>/dev/null)/bin/python3.10"; do \
	  if [ -x "$$candidate" ] && "$$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then \
	    py="$$candidate"; break; \
	  fi; \
	done; \
	if [ -z "$$py" ]; then \
	  echo "error: tfx-unirec needs CPython 3.10 (TFX 1.16). Install it, e.g. 'pyenv install 3.10' or your OS package python3.10, and put python3.10 on PATH." >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV_DIR) with $$py (about 5 minutes, once per set of pins)"; \
	rm -rf "$(VENV_DIR)" && "$$py" -m venv "$(VENV_DIR)" && \
	"$(VENV_DIR)/bin/pip" install --quiet --upgrade "pip==24.2" "setuptools==75.1.0" "wheel==0.44.0" && \
	"$(VENV_DIR)/bin/pip" install --quiet --no-deps -r requirements.txt && \
	touch "$@"

run: venv
	.venv/bin/unirec run --config $(CONFIG)

test: venv
	$(PYTHON) -m pytest tests $(PYTEST_ARGS)

clean:
	rm -rf .venv output build *.egg-info
