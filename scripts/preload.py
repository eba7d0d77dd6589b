"""`airflow ARGS...` for the local stack, with what the tasks import imported once, before it starts:
`preload.py scheduler` (LocalExecutor) and `preload.py celery worker` (CeleryExecutor).

The LocalExecutor runs every task in a process forked from the scheduler, a Celery worker in one
forked from the worker, and each task first parses its DAG file (the Astro SDK, pandas, the providers)
and then imports what it uses (scikit-learn for training, seaborn and matplotlib for the plots, MLflow's
client for tracking): 2-4 s of CPU per task, from bytecode. Imported here once, every forked task finds
these modules in memory (shared with its parent, copy-on-write) and starts in a fraction of that. The
DAGs and tasks do not depend on it: under Docker the Astro runtime starts its own scheduler and workers.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import sys

import matplotlib
from airflow.__main__ import main
from sqlalchemy.orm import configure_mappers

from include.finance.edition import DagBag

# What the tasks import inside their functions (kept out of the DAG files so that parsing stays fast).
TASK_MODULES = ("sklearn.ensemble", "sklearn.linear_model", "sklearn.model_selection", "sklearn.inspection",
                "matplotlib.figure", "seaborn", "mlflow", "mlflow.sklearn", "mlflow.models")

if __name__ == "__main__":
    matplotlib.use("Agg")  # what the plot tasks select; no display here
    DagBag()  # imports every module the DAG files import (the examples are off: [core] load_examples)
    for module in TASK_MODULES:
        importlib.import_module(module)
    # Caches every task would otherwise fill for itself: the ORM's mappers, and the module index of
    # `inspect`, which the amazon provider's hooks walk (`inspect.stack()`, for their user agent) when
    # they connect: 0.3-0.6 s of CPU per task with this many modules loaded.
    configure_mappers()
    inspect.stack()
    # MLflow's check of a saved model's pinned requirements against the environment (every training task's
    # save_model runs it) maps each installed distribution to its modules, once per process: 0.4-2 s of CPU
    from mlflow.utils.requirements_utils import warn_dependency_requirement_mismatches

    from include.finance.training.tracking import pip_requirements

    warn_dependency_requirement_mismatches(pip_requirements())
    # What is loaded now lives as long as the process: frozen out of the garbage collector (its cyclic garbage
    # collected first), a full collection in a forked task does not walk it, which writes to each object's header
    # and so copies the parent's pages (after these imports: 430,000 objects, 0.38 s of CPU and 32,660 page faults
    # per full collection in a child without the freeze, none with it)
    gc.collect()
    gc.freeze()
    sys.argv = ["airflow", *sys.argv[1:]]
    sys.exit(main())
