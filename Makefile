# Two commands on a bare machine (Debian/Ubuntu, Python 3.11, no Docker):
#   make run    the whole pipeline once, end to end, with a summary   (make run DATA=path/to/dir for your CSVs;
#               make run EXECUTOR=celery: CeleryExecutor, Redis and two isolated Celery workers;
#               make run DAYS=4: the last four days, oldest first; MOCK_DATA_SHIFT_FROM=<day> plants a shift)
#   make test   the whole test suite
# and make up / make down to keep the local stack running for the UI on http://localhost:8080
# (make reset deletes its data); make airflow ARGS="dags list" runs the Airflow CLI against it, and
# make parse checks that every DAG file imports (no stack needed). All of it: python -m scripts.stack --help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
# AIRFLOW=3: the Airflow 3 edition (airflow3/dags, docs/airflow3.md) with its own lock and venv; every
# target below works for both editions. The default is the Astro SDK edition on Airflow 2.
AIRFLOW ?= 2
ifeq ($(AIRFLOW),3)
LOCK := requirements-airflow3.lock
LOCK_IN := --universal requirements-airflow3.in
VENV := .venv-airflow3
else ifeq ($(AIRFLOW),2)
LOCK := requirements.lock
LOCK_IN := requirements-local.in --override overrides.txt
VENV := .venv
else
$(error AIRFLOW must be 2 or 3, not $(AIRFLOW))
endif
PY := $(VENV)/bin/python
# The MLflow tracking server's own venv (both editions share it): full MLflow does not resolve beside Airflow 2.11's
# pins. Its lock: requirements-mlflow.lock (make lock-mlflow); the tasks use mlflow-skinny from the edition's lock.
MLFLOW_VENV := .venv-mlflow
MLFLOW_LOCK := requirements-mlflow.lock
# The results dashboard's own venv (Streamlit, dashboard/app.py; both editions share it). Its lock:
# requirements-dashboard.lock (make lock-dashboard).
DASHBOARD_VENV := .venv-dashboard
DASHBOARD_LOCK := requirements-dashboard.lock

.PHONY: venv run up down reset airflow parse test lock lock-mlflow lock-dashboard pictures bench bench-dashboard bench-busy astro-project

# The venv is built from its edition's lock alone; uv comes from the lock too (the edition's venv only has to
# exist before the MLflow server's and the dashboard's, which both editions share and sync from their own locks).
# Where PYTHONDONTWRITEBYTECODE is set its bytecode is compiled once here: every Airflow task is a new process
# importing Airflow, the Astro SDK and pandas, which takes about 3x as long from source, and Python would pay that
# every time. Elsewhere Python caches the bytecode of what is imported, on first import (the edition's venv: 1.5 s
# to sync instead of 36 s with every file compiled).
COMPILE := $(if $(PYTHONDONTWRITEBYTECODE),--compile-bytecode)
venv: $(VENV)/.synced $(MLFLOW_VENV)/.synced $(DASHBOARD_VENV)/.synced
$(DASHBOARD_VENV)/.synced: $(DASHBOARD_LOCK) | $(VENV)/.synced
	@test -x $(DASHBOARD_VENV)/bin/python || { echo "venv: creating $(DASHBOARD_VENV) with $(PYTHON)"; $(PYTHON) -m venv $(DASHBOARD_VENV); }
	@echo "venv: installing $(DASHBOARD_LOCK) (the dashboard)"
	$(VENV)/bin/uv pip sync --quiet $(COMPILE) --python $(DASHBOARD_VENV)/bin/python $(DASHBOARD_LOCK)
	@touch $@
$(MLFLOW_VENV)/.synced: $(MLFLOW_LOCK) | $(VENV)/.synced
	@test -x $(MLFLOW_VENV)/bin/python || { echo "venv: creating $(MLFLOW_VENV) with $(PYTHON)"; $(PYTHON) -m venv $(MLFLOW_VENV); }
	@echo "venv: installing $(MLFLOW_LOCK) (the MLflow server)"
	$(VENV)/bin/uv pip sync --quiet $(COMPILE) --python $(MLFLOW_VENV)/bin/python $(MLFLOW_LOCK)
	@touch $@
$(VENV)/.synced: $(LOCK)
	@test -x $(PY) || { echo "venv: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@test -x $(VENV)/bin/uv || { echo "venv: installing uv"; \
	  $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null; \
	  $(PY) -m pip install --quiet --disable-pip-version-check "$$(grep '^uv==' $(LOCK))"; }
	@echo "venv: installing $(LOCK)$(if $(COMPILE), and compiling its bytecode)$(if $(wildcard $@),, (the first time: a few minutes))"
	$(VENV)/bin/uv pip sync $(if $(wildcard $@),--quiet) $(COMPILE) --python $(PY) $(LOCK)
	@touch $@

run: venv
	$(PY) -m scripts.stack $(if $(EXECUTOR),--executor $(EXECUTOR)) run $(if $(DATA),--data "$(DATA)") $(if $(DAYS),--days $(DAYS))

up: venv
	$(PY) -m scripts.stack $(if $(EXECUTOR),--executor $(EXECUTOR)) up

down: venv
	$(PY) -m scripts.stack down

reset: venv
	$(PY) -m scripts.stack reset

# The Airflow CLI with the local stack's environment (AIRFLOW_HOME, metadata database, connections).
airflow: venv
	$(PY) -m scripts.stack $(if $(EXECUTOR),--executor $(EXECUTOR)) airflow $(ARGS)

parse: venv
	$(PY) -m scripts.stack parse

# The README's pictures (docs/images/) from a real run, taken in headless Chromium.
pictures: venv
	$(PY) -m scripts.ui pictures

# The pipeline at SCALE times the default data, stage by stage, against psql \copy (docs/benchmarks.md).
bench: venv
	$(PY) -m scripts.bench --scale $(or $(SCALE),1) $(if $(EXECUTOR),--executor $(EXECUTOR))

# The dashboard's pages on the stack make up started: server time per page, cold and cached, against their SQL.
bench-dashboard: venv
	$(PY) -m scripts.bench_dashboard

# make run on a quiet machine, then with every core saturated by busy loops: no scheduler restart (docs/benchmarks.md).
bench-busy: venv
	$(PY) -m scripts.bench_busy $(if $(EXECUTOR),--executor $(EXECUTOR))

test: venv
	$(PY) -m pytest

# Re-resolve the edition's lock for the Python of the image: requirements.lock from requirements-local.in
# (which includes requirements.txt) with the dependency caps overrides.txt lifts; requirements-airflow3.lock
# from requirements-airflow3.in (which includes airflow3/requirements.txt).
lock: venv
	$(VENV)/bin/uv pip compile --quiet --python-version 3.11 --no-header $(LOCK_IN) -o $(LOCK)
	@sed -i '1i # The $(if $(filter 3,$(AIRFLOW)),Airflow 3 edition'"'"'s,Astro SDK edition'"'"'s) one lock: every transitive pin for its local venv and CI (make lock$(if $(filter 3,$(AIRFLOW)), AIRFLOW=3) regenerates it).' $(LOCK)

lock-mlflow: venv
	$(VENV)/bin/uv pip compile --quiet --python-version 3.11 --no-header requirements-mlflow.in -o $(MLFLOW_LOCK)
	@sed -i '1i # The MLflow server'"'"'s one lock: every transitive pin of .venv-mlflow (make lock-mlflow regenerates it).' $(MLFLOW_LOCK)

lock-dashboard: venv
	$(VENV)/bin/uv pip compile --quiet --python-version 3.11 --no-header requirements-dashboard.in -o $(DASHBOARD_LOCK)
	@sed -i '1i # The dashboard'"'"'s one lock: every transitive pin of .venv-dashboard (make lock-dashboard regenerates it).' $(DASHBOARD_LOCK)

# The Airflow 3 edition as an Astro project of its own (build/airflow3/: astro dev start, astro deploy there).
astro-project:
	@test "$(AIRFLOW)" = 3 || { echo "astro-project: the default edition's Astro project is this folder; use AIRFLOW=3"; exit 2; }
	$(PYTHON) scripts/astro_project.py
