# ComfyUI Gateway: one command per task. Every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
GEN    := comfyui_gateway/v1/descriptor.pb
PROTOS := $(wildcard proto/comfyui_gateway/v1/*.proto)
LOCK   := requirements.lock
# One resolution for every machine: PyPI's releases for Python 3.11+ on any platform, with
# hashes. `make lock` refreshes it; existing pins are kept unless pyproject.toml needs others
# (LOCK_FLAGS=--upgrade moves everything to the newest allowed release).
LOCK_ARGS := pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
             --generate-hashes --quiet --custom-compile-command 'make lock'
CLIENTS_STAMP  := $(VENV)/.clients-installed
PYCLIENT_STAMP := $(VENV)/.pyclient-installed

.PHONY: dev test check lint format proto bench clean clients clients-deps ops-deps browser-deps lock fuzz

dev: $(GEN)  ## run the whole gateway on embedded defaults (REST :3000, gRPC :50051)
	$(BIN)/comfyui-gateway dev

test: check clients-deps ops-deps browser-deps  ## lint, type-check, then every test (real Redis, PostgreSQL, Envoy, S3 server)
	$(BIN)/pytest

check: $(GEN) $(PYCLIENT_STAMP)  ## ruff and mypy, as CI runs them
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

lint: check

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

proto: $(STAMP)  ## regenerate stubs and Envoy's descriptor set from proto/
	$(BIN)/python scripts/gen_protos.py

# Client toolchains (scripts/gen_clients.py, tests/clients): Node 20 packages from the
# committed package-lock.json; Go, protoc and Go's grpc/protobuf libraries from Debian
# (GOPATH builds against /usr/share/gocode: the Go module proxy is not used).
GO_DEBS := golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-grpc-dev \
           golang-google-protobuf-dev golang-google-genproto-dev golang-github-golang-protobuf-1-5-dev

clients: clients-deps  ## regenerate every client's code and the OpenAPI document from proto/
	$(BIN)/python scripts/gen_clients.py

clients-deps: $(CLIENTS_STAMP)

$(CLIENTS_STAMP): $(PYCLIENT_STAMP) clients/typescript/package-lock.json
	dpkg -s $(GO_DEBS) >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(GO_DEBS))
	cd clients/typescript && npm ci --no-audit --no-fund
	touch $(CLIENTS_STAMP)

# Operator toolchain (tests/integration/test_dashboards.py): promtool from Debian's
# prometheus package checks deploy/prometheus/ alert rules.
OPS_STAMP := $(VENV)/.ops-installed
ops-deps: $(OPS_STAMP)

$(OPS_STAMP): $(STAMP)
	command -v promtool >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus)
	touch $(OPS_STAMP)

# Browser tests of the web console (tests/console): Debian's chromium, driven by
# Playwright for Python (the dev extra) through executable_path: Playwright's own
# browser download is never used.
BROWSER_STAMP := $(VENV)/.browser-installed
browser-deps: $(BROWSER_STAMP)

$(BROWSER_STAMP): $(STAMP)
	command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
	touch $(BROWSER_STAMP)

# The Python client package, installed into the project's venv (its tests and mypy use it).
$(PYCLIENT_STAMP): $(STAMP) clients/python/pyproject.toml
	$(BIN)/python -m pip install --quiet -e ./clients/python
	touch $(PYCLIENT_STAMP)

FUZZ_SECONDS ?= 300
fuzz: $(GEN)  ## schemathesis through Envoy as admin and user for FUZZ_SECONDS, fresh seeds
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(BIN)/pytest -q -s -p no:cacheprovider \
	  tests/integration/test_fuzz_openapi.py

bench: $(GEN)  ## benchmarks: print figures, assert nothing
	$(BIN)/python -m bench

$(GEN): $(STAMP) $(PROTOS) scripts/gen_protos.py
	$(BIN)/python scripts/gen_protos.py

# Every third-party package from the lock (hash-checked), then the project itself alone;
# `pip check` catches a dependency added to pyproject.toml but not yet locked.
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; \
	  echo "$(LOCK) is out of step with pyproject.toml: run 'make lock'"; exit 1; }
	touch $(STAMP)

lock:  ## re-resolve requirements.lock after editing dependencies in pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep -o '^uv==[^ ]*' $(LOCK) || echo uv)"
	$(BIN)/uv $(LOCK_ARGS) $(LOCK_FLAGS) -o $(LOCK)

clean:
	rm -rf $(VENV) comfyui_gateway/v1 .mypy_cache .ruff_cache .pytest_cache
