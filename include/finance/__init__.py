"""The pipeline's core, shared by both editions' DAG files: a package per domain (`ingestion`, `loading`,
`quality`, `training`, `production`), the SQL files (`sql`), and beside them the DAG-facing modules (`tasks`,
`operators`, `operators_airflow3`, `dag_defaults`) and the foundations (`config`, `contract`, `schema`,
`connections`, `edition`, `run_context`, `alerts`, `report`, `airflow_api`). docs/architecture.md draws the
layers; tests/unit/test_architecture.py holds the code to them."""
