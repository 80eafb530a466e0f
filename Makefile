# dltheory: `make demo` and `make test` each set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
EXTRAS ?= dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PRESET ?= quick
# course runs (or pytest workers) at a time, one process each, sharing the CPUs' threads: the CPUs here, at most 8
JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 8 ] && n=8; echo $$n)

.PHONY: setup demo test bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[$(EXTRAS)]'
	touch $(STAMP)

demo: setup
	$(BIN)/dltheory course --preset $(PRESET) --jobs $(JOBS)

test: setup
	$(BIN)/python -m pytest $(if $(filter 1,$(JOBS)),,-n $(JOBS))

bench:
	$(MAKE) setup EXTRAS=dev,bench
	$(PIP) install -q -c constraints.txt --no-deps curvlinops-for-pytorch backpack-for-pytorch
	$(PIP) install -q -c constraints.txt --no-deps jax==0.5.3 jaxlib==0.5.3 ml_dtypes neural-tangents==0.6.5 frozendict mpmath
	$(BIN)/python benchmarks/run_all.py

lint: setup
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache
