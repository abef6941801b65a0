# Both targets set up everything they need on a fresh machine (a reused .venv and pip's cache make reruns fast).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# llama-cpp-python compiles llama.cpp on its first install (about 9 minutes here); pip keeps the wheel in its cache,
# so a new .venv takes it from there in seconds. GGML_NATIVE=OFF builds for AVX2/FMA/F16C instead of -march=native:
# a native build turns on AMX where the CPU has it, and its matmul crashes on VMs that do not grant AMX (seen on this
# machine kind); it also keeps the cached wheel good for every machine of the kind.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: demo test setup bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/regiongate demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/overhead.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
