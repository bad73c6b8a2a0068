# PaperChat: `make run` serves the chat, `make test` runs the tests.
# Both create .venv and install everything on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 7860

.PHONY: install index run test lint bench browser clean

install: $(STAMP)

# torch first, pinned to the local CPU build: an unpinned torch pulls multi-GB CUDA wheels.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Build the index from seeds/ when there is none yet (an existing one is left alone).
index: $(STAMP)
	@if $(BIN)/rag info >/dev/null 2>&1; then echo "Index present (rag ingest seeds/ to update, rag info to describe)"; \
	else $(BIN)/rag ingest seeds/; fi

run: index
	$(BIN)/rag serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing chromium (Debian package) for the browser tests"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null; fi; }

test: $(STAMP) browser
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check rag ui tests bench
	$(BIN)/ruff format --check rag ui tests bench

bench: index
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/ingest_speed.py

clean:
	rm -rf $(VENV) vectorstore/chroma vectorstore/gen-* vectorstore/CURRENT vectorstore/.lock
