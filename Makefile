# Two entry points: `make run` (install + main job) and `make test` (install + test suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= out
# The OmniXAS data root (docs/data.md); the example job below needs none.
DATA_DIR ?= ../shared/data/omnixas
export HF_HUB_OFFLINE := 1
export OMP_NUM_THREADS ?= 1

.PHONY: install run test lint docs clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel on this machine (anything else pulls CUDA).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

install: $(BIN)/.installed

# Main job: spectra of the embedded example structures with the shipped models (no data root needed).
run: install
	mkdir -p $(OUT)
	XASFLOW_DATA_DIR=$(DATA_DIR) $(BIN)/xasflow predict src/xasflow/examples/structures --out $(OUT)/examples.csv --plot $(OUT)/examples.png

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

# Documentation site (mkdocs.yml) into site/, warnings as errors; make test builds it too (tests/test_docs_build.py).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(OUT) site
