# `make test` and `make bench` bootstrap .venv on a fresh machine (only Python >= 3.10 + pip needed).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch 2.13.0 CPU is the bench peer; pinned so pip takes the local CPU build, not a CUDA one.
TORCH_PEER ?= torch==2.13.0

.PHONY: test bench clean

$(VENV)/.test-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

$(VENV)/.bench-installed: $(VENV)/.test-installed
	$(PY) -m pip install -q "$(TORCH_PEER)" || echo "warning: $(TORCH_PEER) not installable here; attention peers skipped"
	$(PY) -m pip install -q -e ".[bench,peers]"
	touch $@

test: $(VENV)/.test-installed
	$(PY) -m pytest tests -q

bench: $(VENV)/.bench-installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .benchmarks
