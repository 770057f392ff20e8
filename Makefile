# `make run` and `make test` build .venv from nothing when it is missing, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test test-all bench lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  # make run PORT=9000 serves on another port (as does TROIKA_PORT=9000 make run)
	$(BIN)/troika run $(if $(PORT),--port $(PORT))

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-all: $(STAMP)  # includes the slow tests that train on real data
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/python bench/bench_classifier.py train --mode fast
	$(BIN)/python bench/bench_classifier.py train --mode full
	$(BIN)/python bench/bench_classifier.py latency --mode full
	$(BIN)/python bench/bench_classifier.py table

lock: $(STAMP)
	{ echo "# Every dependency, resolved together with the CPU build of torch 2.13.0."; \
	  echo "# Regenerate: make lock (pip freeze of a fresh .venv)."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^troika' | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
