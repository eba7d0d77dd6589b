# Astro Runtime 13.11.0 ships Apache Airflow 2.11.2, the version requirements.lock pins; its Python 3.11
# variant, the Python the lock is resolved for (Runtime 13 defaults to 3.12). tests/unit/test_requirements.py
# checks both.
FROM quay.io/astronomer/astro-runtime:13.11.0-python-3.11

# The runtime has installed requirements.txt by now (its ONBUILD steps run right after FROM). The Astro SDK
# goes in without its dependency caps: it declares Flask-Session<0.6, which would downgrade the
# Flask-Session 0.8 Airflow 2.11.2 needs (overrides.txt says why; `make lock` resolves the same override).
# Its other dependencies are pinned in requirements.txt.
USER root
RUN pip install --no-cache-dir --no-deps astro-sdk-python==1.9.0
USER astro

# XCom may deserialize astro-sdk objects (Table, File, ...) as well as Airflow's own.
ENV AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES='airflow.* astro.*'
# Where the Astro SDK keeps XCom values too large for the metadata DB (dataframes over 100 KB): the values of
# settings.astro_sdk_env() in include/finance/config.py (the SDK reads them when it is imported, before any
# project code runs, so they are set here; the local stack sets them from settings; a test checks both agree).
ENV AIRFLOW__ASTRO_SDK__XCOM_STORAGE_CONN_ID=aws_default
ENV AIRFLOW__ASTRO_SDK__XCOM_STORAGE_URL=s3://finance-elt-ml-data/xcom
# Publish timers in milliseconds as Airflow 3 will; silences a RemovedInAirflow3Warning at every start.
ENV AIRFLOW__METRICS__TIMER_UNIT_CONSISTENCY=True
# One OpenMP/BLAS thread per task: the mapped training tasks run side by side on the worker's cores,
# and with a thread per core each, their idle threads spin on the cores the others need.
ENV OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
