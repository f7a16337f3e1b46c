# Each target sets itself up: a virtualenv in .venv with torch 2.13 (TORCH_SPEC, e.g.
# TORCH_SPEC=torch for another version) from pip's index, or from TORCH_INDEX if given (e.g.
# TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU-only build: on Linux x86_64 the
# PyPI wheel bundles CUDA), and pinnkan in editable mode. A torch already in .venv is kept.
VENV ?= .venv
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PY := $(VENV)/bin/python
STAMP := $(VENV)/.pinnkan-installed

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
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
