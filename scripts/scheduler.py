"""`airflow scheduler` for the local stack, with what the tasks import imported once, before it starts.

The LocalExecutor runs every task in a process forked from the scheduler, and each task first parses
its DAG file (the Astro SDK, pandas, the providers) and then imports what it uses (scikit-learn for
training, matplotlib for the plots): 2-4 s of CPU per task, from bytecode. Imported here once, every
forked task finds these modules in memory (shared with the scheduler, copy-on-write) and starts in a
fraction of that. The DAGs and tasks do not depend on it: under Docker the Astro runtime starts its
own scheduler.
"""

from __future__ import annotations

import importlib
import sys

import matplotlib

from airflow.__main__ import main
from airflow.models.dagbag import DagBag

# What the tasks import inside their functions (kept out of the DAG files so that parsing stays fast).
TASK_MODULES = ("sklearn.ensemble", "sklearn.linear_model", "sklearn.model_selection", "sklearn.inspection",
                "matplotlib.pyplot")

if __name__ == "__main__":
    matplotlib.use("Agg")  # what the plot tasks select; no display here
    DagBag(include_examples=False)  # imports every module the DAG files import
    for module in TASK_MODULES:
        importlib.import_module(module)
    sys.argv = ["airflow", "scheduler", *sys.argv[1:]]
    sys.exit(main())
