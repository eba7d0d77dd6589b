-- A database made as a copy of another (0.1 s for Airflow's migrated metadata).
CREATE DATABASE {database} TEMPLATE {template}
