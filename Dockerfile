# Astro Runtime 13.4.0 ships Apache Airflow 2.11.0, the version requirements.lock pins (tests/test_project_files.py checks).
FROM quay.io/astronomer/astro-runtime:13.4.0

# XCom may deserialize astro-sdk objects (Table, File, ...) as well as Airflow's own.
ENV AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES='airflow.* astro.*'
# Connection astro-sdk uses to store XCom values too large for the metadata DB (over 100 KB).
ENV AIRFLOW__ASTRO_SDK__XCOM_STORAGE_CONN_ID=aws_default
# Where astro-sdk stores them: the pipeline's bucket (config.DATA_BUCKET_NAME), prefix xcom/.
ENV AIRFLOW__ASTRO_SDK__XCOM_STORAGE_URL=s3://finance-elt-ml-data/xcom
# Publish timers in milliseconds as Airflow 3 will; silences a RemovedInAirflow3Warning at every start.
ENV AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY=True
# One OpenMP/BLAS thread per task: the mapped training tasks run side by side on the worker's cores,
# and with a thread per core each, their idle threads spin on the cores the others need.
ENV OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
