# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-all lint bench clean validation compiled pure

$(BIN)/gpufleet: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[service,live,parquet]'  # what the README's commands use
	@touch $@

$(VENV)/.dev: $(BIN)/gpufleet
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

demo: $(BIN)/gpufleet
	$(BIN)/gpufleet demo

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

# the suite on every core, up to 4 (pytest-xdist); the tests on the dev cluster run in one
# worker, one after another (tests/conftest.py groups them). PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= auto
test: lint
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --maxprocesses=4 --dist loadgroup

# the suite with its PostgreSQL cases: a throwaway PostgreSQL where its binaries exist
# (unless GPUFLEET_TEST_PG_URL names one); -rs lists what still skipped and why
test-all: lint
	BIN=$(BIN) PYTEST_WORKERS=$(PYTEST_WORKERS) scripts/test-all

# about 55 minutes on 2 cores (bench/README.md): the engine, the pure-Python limit, every policy against fifo
# (bench/README.md); bench/run.py --quick is the 1-2 minute smoke run
bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

# opt-in: the engine core compiled with mypyc (needs the dev extra and a C compiler);
# `make pure` removes it and the pure-Python core, the default, runs again
compiled: $(VENV)/.dev
	$(BIN)/python scripts/compile_core.py

pure:
	$(PYTHON) scripts/compile_core.py --clean

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

validation: $(VENV)/.dev
	$(BIN)/python bench/fgd.py
	$(BIN)/python bench/validation.py
	$(BIN)/python bench/validation_preemptive.py

# A real single-host Slurm 22.05 and Prometheus for the live tests (docs/live.md); root,
# Debian. Installs the Debian packages it needs the first time.
.PHONY: dev-cluster dev-cluster-down dev-cluster-status
dev-cluster:
	scripts/devcluster/up

dev-cluster-down:
	scripts/devcluster/down

dev-cluster-status:
	scripts/devcluster/status

# Issue 13's story on the dev cluster, each step shown and checked (README, "The whole story")
.PHONY: story-live
story-live: $(BIN)/gpufleet
	PYTHON=$(BIN)/python scripts/story/live-fleet-ii
