# token-sweep: `make run` sets up .venv and runs the default sweep; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test plan bench lint clean gpu-wheels gpu-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# (Re)install whenever pyproject.toml changes: `make test` keeps .venv up to date.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sweep run configs/hopper-vs-blackwell.yaml --overwrite
	$(BIN)/sweep report results/hopper-vs-blackwell.zarr --out results/hopper-vs-blackwell.html

plan: $(STAMP)
	$(BIN)/sweep plan configs/hopper-vs-blackwell.yaml

test: $(STAMP)
	@sh tools/install-browser.sh
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet "ruff>=0.6"
	$(BIN)/ruff check sweep kernels tests bench

bench: $(STAMP)
	$(BIN)/python bench/bench_materialize.py

# On this machine: put the wheels a GPU machine lacks into .whl/ (see bench/README.md).
gpu-wheels: $(STAMP)
	bash bench/gpu_wheels.sh

# On a GPU machine (no .venv needed there): GPU tests on the device + GPU benchmark.
gpu-check:
	bash bench/gpu_check.sh

clean:
	rm -rf $(VENV) results build *.egg-info
