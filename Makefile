# ComfyUI Gateway: one command per task. Every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
GEN    := comfyui_gateway/v1/descriptor.pb
PROTOS := $(wildcard proto/comfyui_gateway/v1/*.proto)

.PHONY: dev test check lint format proto bench clean

dev: $(GEN)  ## run the whole gateway on embedded defaults (REST :3000, gRPC :50051)
	$(BIN)/comfyui-gateway dev

test: check  ## lint, type-check, then every test (real Redis, PostgreSQL, Envoy, S3 server)
	$(BIN)/pytest

check: $(GEN)  ## ruff and mypy, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint: check

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

proto: $(STAMP)  ## regenerate stubs and Envoy's descriptor set from proto/
	$(BIN)/python scripts/gen_protos.py

bench: $(GEN)  ## benchmarks: print figures, assert nothing
	$(BIN)/python -m bench

$(GEN): $(STAMP) $(PROTOS) scripts/gen_protos.py
	$(BIN)/python scripts/gen_protos.py

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) comfyui_gateway/v1 .mypy_cache .ruff_cache .pytest_cache
