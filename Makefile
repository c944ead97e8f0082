# ganforge developer entry points. `make demo` and `make test` are all a newcomer needs.
#
# The venv is built once with the machine's python3; the stamp file re-installs only when
# pyproject.toml or setup.py change. torch goes in FIRST, pinned: a bare `pip install torch` pulls a
# multi-GB CUDA build. Where pip's own configuration does not already provide a CPU wheel, name
# PyTorch's index: make venv TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (for a GPU machine: TORCH_INDEX=https://download.pytorch.org/whl/cu128 EXTRAS=train,gpu,dev).
# It is empty by default because an unreachable index costs pip over a minute of retries.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ganforge-installed
TORCH_VERSION ?= 2.13.0
TORCH_INDEX ?=
EXTRAS ?= train,cpu,dev,editor,link
PYTEST_ARGS ?= -m "not slow"
DEMO_ARGS ?=
# Blender as a Python module for the extension's tests, in its own venv: bpy pins numpy<2 and
# wants Python 3.11 exactly (BPY_PYTHON=python3.11 where python3 is another version).
BPY_VERSION ?= 5.0.1
BPY_PYTHON ?= $(PYTHON)
BPY_VENV ?= .venv-blender
BPY_STAMP := $(BPY_VENV)/.bpy-installed

.PHONY: venv blender-venv demo test test-all lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip show torch 2>/dev/null | grep -q "^Version: $(TORCH_VERSION)" || \
		$(BIN)/python -m pip install "torch==$(TORCH_VERSION)" $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install -e ".[$(EXTRAS)]"
	touch $(STAMP)

# ~375 MB download, once; the Blender tests (tests/test_blender_*.py) find it here.
blender-venv: $(BPY_STAMP)

$(BPY_STAMP):
	test -x $(BPY_VENV)/bin/python || $(BPY_PYTHON) -m venv $(BPY_VENV)
	$(BPY_VENV)/bin/python -m pip install "bpy==$(BPY_VERSION)"
	touch $(BPY_STAMP)

# Trains a small texture model on scikit-image's bundled CC0 photos, exports a pack and
# generates a 2048x2048 texture plus a 2x2 tiled preview (a few minutes on 2 CPU cores).
demo: $(STAMP)
	$(BIN)/ganforge demo $(DEMO_ARGS)

# The fast suite (no slow tests). CI runs everything: make test PYTEST_ARGS="-m ''".
test: $(STAMP) $(BPY_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-all: $(STAMP) $(BPY_STAMP)
	$(BIN)/python -m pytest -m ""

lint: $(STAMP)
	$(BIN)/ruff check .

# Training throughput against a plain loop, then generation (onnxruntime vs torch, cold start,
# peak memory); results go to benchmarks/results/. Takes several minutes.
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_generation.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache demo-out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
