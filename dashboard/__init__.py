"""The results dashboard: a Streamlit app (`app.py`) on the pipeline's tables, run from its own venv
(.venv-dashboard, requirements-dashboard.lock) beside Airflow, never inside its image. `queries.py` is its
query layer: every figure is a query of `include/finance/sql/dashboard/` on one day of the tables. It imports
the pipeline's settings, table names and SQL loader from `include.finance` (no Airflow)."""
