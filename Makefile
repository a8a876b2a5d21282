# Quick start: `make run` (set up .venv and run the demo) · `make test` (the test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch. With an NVIDIA GPU use instead: TORCH_SPEC="torch==2.13.0 --index-url <your CUDA wheel index>"
TORCH_SPEC ?= torch==2.13.0

.PHONY: run test test-realdata bench-speed lint clean

$(BIN)/oneclass: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH_SPEC)
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: $(BIN)/oneclass
	$(BIN)/oneclass demo

test: $(BIN)/oneclass
	$(BIN)/pytest -q

# slower checks on the full datasets in ../shared/data (skipped when it is absent)
test-realdata: $(BIN)/oneclass
	$(BIN)/pytest -q -m realdata

bench-speed: $(BIN)/oneclass
	$(BIN)/python benchmarks/train_speed.py

lint: $(BIN)/oneclass
	$(BIN)/ruff check src tests benchmarks tools

clean:
	rm -rf $(VENV) demo-report .pytest_cache .ruff_cache src/*.egg-info
