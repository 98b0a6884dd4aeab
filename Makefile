# The two set-up commands of the README:
#   make main   -> fresh machine to a populated catalog (SQLite default)
#   make test   -> the whole test suite
# Both create .venv on first use. torch is installed first and pinned, so that pip takes the
# local CPU wheel instead of resolving a CUDA build from the registry.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
export HF_HUB_OFFLINE := 1

.PHONY: main test install clean

$(BIN)/headdb: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==$(TORCH_VERSION)
	$(BIN)/pip install -q -e ".[test]"
	touch $(BIN)/headdb

install: $(BIN)/headdb

main: install
	$(BIN)/headdb main

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) headdb.sqlite site build docs/generated
