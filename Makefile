# Quick start: `make run` (serve on :8000) and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 0.0.0.0
PORT ?= 8000

.PHONY: install install-dev run test lint typecheck bench soak train train-cpu train-campaign export-campaign clean

# torch is installed first and pinned so that pip takes the local CPU build (2.13.0) instead of
# resolving an unpinned torch to the multi-GB CUDA wheels.
# `make run` installs only what serving needs; pip's normal output (no -q) shows what it is
# downloading, since the first install takes minutes.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install "torch==2.13.0"
	$(PY) -m pip install -e .
	touch $@

# The tools on top, for test, lint, typecheck, benchmarks and training: the dev extra (pytest, ruff,
# mypy, hadolint, validators, onnxruntime for the teacher, the HEIC test encoder).
$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -e ".[dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

run: install
	BGREMOVE_HOST=$(HOST) BGREMOVE_PORT=$(PORT) $(PY) -m service

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

typecheck: install-dev
	$(PY) -m mypy

test: install-dev lint typecheck
	$(PY) -m pytest

bench: install-dev
	$(PY) -m bench.run

# The full training pipeline (labels, supervised, SOC, evaluation, guarded export); meant for a GPU.
train: install-dev
	$(PY) -m model.training all --preset gpu

# The CPU recipe the shipped weights come from (about 2.5 hours on 2 cores; resumable: run it again).
train-cpu: install-dev
	$(PY) -m model.training train --preset cpu
	$(PY) -m model.training train --preset cpu-long
	$(PY) -m model.training all --preset cpu-more

# The CPU campaign (issue 16): labels for its photos, then one resumable chunk of supervised training
# (checkpoints in runs/; without runs/ it starts from the committed weights). Run it again to continue.
CHUNK_MINUTES ?= 60
train-campaign: install-dev
	$(PY) -m model.training labels --preset cpu-campaign
	$(PY) -m model.training train --preset cpu-campaign --set chunk_minutes=$(CHUNK_MINUTES)

# Export the campaign's best checkpoint; refused unless it beats GrabCut and the shipped weights.
export-campaign: install-dev
	$(PY) -m model.training export --preset cpu-campaign

soak: install-dev
	$(PY) -m bench.soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
