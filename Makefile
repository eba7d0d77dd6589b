# Two commands on a bare machine (Debian/Ubuntu, Python 3.11, no Docker):
#   make run    the whole pipeline once, end to end, with a summary   (make run DATA=path/to/dir for your CSVs;
#               make run EXECUTOR=celery: CeleryExecutor, Redis and two isolated Celery workers;
#               make run DAYS=4: the last four days, oldest first; MOCK_DATA_SHIFT_FROM=<day> plants a shift)
#   make test   the whole test suite
# and make up / make down to keep the local stack running for the UI on http://localhost:8080
# (make reset deletes its data); make airflow ARGS="dags list" runs the Airflow CLI against it, and
# make parse checks that every DAG file imports (no stack needed). All of it: python -m scripts.stack --help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: venv run up down reset airflow parse test lock pictures bench

# The venv is built from requirements.lock alone; uv comes from the lock too. Its bytecode is compiled
# once here: every Airflow task is a new process importing Airflow, the Astro SDK and pandas, which takes
# about 3x as long from source (where PYTHONDONTWRITEBYTECODE is set, as on many CI machines, every time).
venv: $(VENV)/.synced
$(VENV)/.synced: requirements.lock
	@test -x $(PY) || { echo "venv: creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	@test -x $(VENV)/bin/uv || { echo "venv: installing uv"; \
	  $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null; \
	  $(PY) -m pip install --quiet --disable-pip-version-check "$$(grep '^uv==' requirements.lock)"; }
	@echo "venv: installing requirements.lock and compiling its bytecode$(if $(wildcard $@),, (the first time: a few minutes))"
	$(VENV)/bin/uv pip sync $(if $(wildcard $@),--quiet) --compile-bytecode --python $(PY) requirements.lock
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

test: venv
	$(PY) -m pytest

# Re-resolve requirements.lock from requirements-local.in (which includes requirements.txt), for the
# Python of the image (Dockerfile), with the dependency caps overrides.txt lifts.
lock: venv
	$(VENV)/bin/uv pip compile --quiet --python-version 3.11 --no-header --override overrides.txt requirements-local.in -o requirements.lock
	@sed -i '1i # The one lock: every transitive pin for the local venv and CI (make lock regenerates it).' requirements.lock
