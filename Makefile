# `make run` and `make test` set everything up on a fresh machine with Python 3.11.
# The virtualenv is reinstalled only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed
# The MLflow tracking server the tests start. Its own virtualenv: the server needs SQLAlchemy 2,
# which the optuna extra's storage cannot use; the package itself only needs mlflow-skinny.
MLFLOW_SERVER := .venv-mlflow-server
MLFLOW_VERSION := 3.17.2

.PHONY: run test test-unit lint browser mlflow-server bench bench-serve bench-drift bench-fleet clean

run: $(RUN_STAMP)
	$(BIN)/python -m easy_mlops.run

# Lint, then both tiers: tests/unit (the package's functions and classes in this process, under a
# minute) and tests/e2e (its commands, processes and servers, marked slow).
test: lint browser mlflow-server
	$(BIN)/python -m pytest -n 2 -q

# The unit tier alone, while working on the code: no browser, no servers.
test-unit: $(DEV_STAMP)
	$(BIN)/python -m pytest -n 2 -q tests/unit

# observe --html is tested in a real browser: Debian's Chromium, installed once.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

mlflow-server: $(MLFLOW_SERVER)/bin/mlflow

$(MLFLOW_SERVER)/bin/mlflow:
	$(PYTHON) -m venv $(MLFLOW_SERVER)
	$(MLFLOW_SERVER)/bin/python -m pip install -q 'mlflow==$(MLFLOW_VERSION)'

# ruff, and import-linter's contracts in pyproject.toml (layers, no import cycles).
lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports --no-cache

# Benchmarks against plain scikit-learn scripts; writes bench/RESULTS.md (see bench/README.md).
bench: $(DEV_STAMP)
	$(BIN)/python bench/run.py

# make-mlops-easy serve vs mlflow models serve (wrk, MLflow in bench/.venv-mlflow); writes bench/SERVE_RESULTS.md.
bench-serve: $(DEV_STAMP)
	$(BIN)/python bench/serve.py

# make-mlops-easy status vs Evidently's DataDriftPreset (Evidently in bench/.venv-evidently); writes bench/DRIFT_RESULTS.md.
bench-drift: $(DEV_STAMP)
	$(BIN)/python bench/drift.py

# status over 1,000 log segments vs 1; predict --engine ray vs one process; writes bench/FLEET_RESULTS.md.
bench-fleet: $(DEV_STAMP)
	$(BIN)/python bench/fleet.py

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(RUN_STAMP)

clean:
	rm -rf $(VENV) $(MLFLOW_SERVER) models multirun mlruns outputs/*/ .pytest_cache
