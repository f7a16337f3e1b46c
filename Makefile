# Each target sets itself up: a virtualenv in .venv with the CPU build of torch (override
# TORCH_SPEC, e.g. TORCH_SPEC=torch, to install another build) and pinnkan in editable mode.
VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pinnkan-installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/pinnkan solve --problem poisson --dim 10 --model kan --preset sdgd --steps 2000 --device cpu --out results/runs/demo.h5

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check pinnkan problems tests benchmarks
	$(VENV)/bin/ruff format --check pinnkan problems tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
