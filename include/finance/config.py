"""The one place the pipeline reads its settings from.

Every value can be overridden by the environment variable of the same name (documented in
`.env_example`); each is cast explicitly here, so DAG files and tasks never touch `os.environ`.
The defaults are the ones `astro dev start` and `make run` work with.
"""

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _str(name: str, default: str) -> str:
    return os.environ.get(name, default).strip() or default


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None


# Where the pipeline runs: "local" trains in plain tasks, "prod" trains in Kubernetes pods.
ENVIRONMENT = _str("ENVIRONMENT", "local").lower()
if ENVIRONMENT not in ("local", "prod"):
    raise ValueError(f"environment variable ENVIRONMENT must be 'local' or 'prod', got {ENVIRONMENT!r}")

# Connections (defined in .env / airflow_settings.yaml / the deployment, never in code).
AWS_CONN_ID = _str("AWS_CONN_ID", "aws_default")
DB_CONN_ID = _str("DB_CONN_ID", "postgres_default")
DB_SCHEMA = _str("DB_SCHEMA", "public")

# Object storage layout: <kind>/dt=<logical date>/<kind>_part_NNN.csv, and one manifest per
# kind and date that is written last and marks the partition complete.
DATA_BUCKET_NAME = _str("DATA_BUCKET_NAME", "finance-elt-ml-data")
FILE_KINDS = ("charge", "satisfaction")

# Tables.
IN_CHARGE_TABLE = "in_charge"
IN_SATISFACTION_TABLE = "in_satisfaction"
MODEL_SATISFACTION_TABLE = "model_satisfaction"
MODEL_SATISFACTION_STAGING_TABLE = "model_satisfaction_staging"  # built and checked, then swapped in
MODEL_METRICS_TABLE = "model_metrics"

# The dataset finance_elt emits when model_satisfaction is rebuilt and finance_ml is scheduled on.
# A plain URI without "user@" (the astro Table URI does not fire under a real scheduler on 2.11).
MODEL_SATISFACTION_DATASET_URI = _str(
    "MODEL_SATISFACTION_DATASET_URI", "postgres://finance-db:5432/finance/public/model_satisfaction"
)

# Sensors.
POKE_INTERVAL = _int("POKE_INTERVAL", 60)  # seconds between checks of the deferrable S3 sensors
SENSOR_TIMEOUT = _int("SENSOR_TIMEOUT", 6 * 60 * 60)  # give up waiting for a day's files after this
# An unreachable S3 endpoint fails a sensor's check; it is retried after 15, 30, 60, 120, 240 s.
SENSOR_RETRIES = _int("SENSOR_RETRIES", 5)
SENSOR_RETRY_DELAY = _int("SENSOR_RETRY_DELAY", 15)  # seconds before the first retry, doubling after

# Quality gates of finance_elt: a failing check stops the run before model_satisfaction is replaced
# (and before the dataset that triggers finance_ml is emitted).
MIN_INPUT_ROWS = _int("MIN_INPUT_ROWS", 1)  # loaded rows per kind and day
MAX_REJECTED_SHARE = _float("MAX_REJECTED_SHARE", 0.05)  # of the day's rows read, per kind
MIN_MODEL_ROWS = _int("MIN_MODEL_ROWS", 50)  # rows of model_satisfaction (customers)
# What model_satisfaction averages: successful charges in one currency (Stripe's lowercase ISO code) whose
# captured amount is plausible. The others stay in in_charge and are counted in model_input_audit with the
# survey answers of customers without any charge that day; a day fails its gate only when too many of its
# charges were implausible or too many of its answers orphans.
MODEL_CURRENCY = _str("MODEL_CURRENCY", "usd").lower()
MAX_CHARGE_AMOUNT = _int("MAX_CHARGE_AMOUNT", 10_000_000)  # cents: a charge above $100,000 is a unit error
MAX_IMPLAUSIBLE_SHARE = _float("MAX_IMPLAUSIBLE_SHARE", 0.01)  # of the day's successful charges in MODEL_CURRENCY
MAX_ORPHAN_SHARE = _float("MAX_ORPHAN_SHARE", 0.05)  # survey answers of customers without a charge that day

# Mock data: size and shape. SCALE multiplies the number of customers (1 = about the reference's size).
MOCK_DATA_SEED = _int("MOCK_DATA_SEED", 42)
MOCK_DATA_SCALE = _float("MOCK_DATA_SCALE", 1.0)
MOCK_DATA_CUSTOMERS = _int("MOCK_DATA_CUSTOMERS", 2000)  # at scale 1
MOCK_DATA_PARTS = _int("MOCK_DATA_PARTS", 4)  # part files per kind
# A folder with the user's own CSVs (charge/*.csv, satisfaction/*.csv, or *.csv.gz) to ingest instead of mock data: a
# path on the machine that runs in_finance_data's tasks (on a deployment, the worker's; relative to the project).
_input_dir = os.environ.get("INPUT_DATA_DIR", "").strip()
INPUT_DATA_DIR = PROJECT_ROOT / _input_dir if _input_dir else None

# Machine learning.
ML_SEED = _int("ML_SEED", 42)
ML_TEST_SIZE = _float("ML_TEST_SIZE", 0.2)
ML_CV_FOLDS = _int("ML_CV_FOLDS", 5)  # k of the k-fold cross-validation models are selected on
# Customers finance_ml trains on at most: a fixed pseudo-random sample of model_satisfaction when it has
# more. Training time stays flat past ~10x the default data (the models are at the noise limit well
# before: README, Results).
ML_MAX_ROWS = _int("ML_MAX_ROWS", 20_000)
# Where finance_ml keeps each run's best model, model card and plots in the data bucket:
# <ML_ARTIFACTS_PREFIX>/<run's logical date, e.g. 20261121T093000>/...
ML_ARTIFACTS_PREFIX = _str("ML_ARTIFACTS_PREFIX", "ml-runs")

# The models finance_ml trains and compares, one mapped task each: a unique name, the estimator's
# class path and its hyperparameters. Each runs as the last step of the same Pipeline (scaled scores,
# one-hot product type). To add a model, add an entry; set random_state where the class has one,
# so that the run is reproducible.
MODELS = [
    # The reference project's four models. Its RandomForest has 2,000 fully grown trees; 100 (scikit-learn's
    # default) score the same (cv_r2 0.7907 against 0.7918 at 1x, 0.7468 against 0.7485 at 10x) in a
    # twentieth of the time and memory (2,000 trees on 16,000 rows peak at 1.6 GB in a task): README, Results.
    {"name": "RandomForest", "model_class": "sklearn.ensemble.RandomForestRegressor",
     "hyper_parameters": {"n_estimators": 100, "random_state": ML_SEED}},
    {"name": "LinearRegression", "model_class": "sklearn.linear_model.LinearRegression", "hyper_parameters": {}},
    {"name": "RidgeCV", "model_class": "sklearn.linear_model.RidgeCV", "hyper_parameters": {"alphas": [0.1, 1.0, 10.0]}},
    {"name": "Lasso", "model_class": "sklearn.linear_model.Lasso", "hyper_parameters": {"alpha": 2.0}},
    # A generalised linear model with a log link: the mean amount is exp(linear function of the
    # features), and the noise grows with the amount. Amounts must be >= 0 (the contract ensures it).
    {"name": "PoissonGLM", "model_class": "sklearn.linear_model.PoissonRegressor",
     "hyper_parameters": {"alpha": 1e-4, "max_iter": 1000}},
    # Shallow gradient-boosted trees: any shape of relation, few interactions, early stopping off
    # so that the result does not depend on an internal validation split.
    {"name": "GradientBoosting", "model_class": "sklearn.ensemble.HistGradientBoostingRegressor",
     "hyper_parameters": {"loss": "poisson", "max_depth": 2, "learning_rate": 0.1, "max_iter": 200,
                          "early_stopping": False, "random_state": ML_SEED}},
    # A forest that cannot memorise single customers: leaves of at least 10 customers.
    {"name": "RegularisedForest", "model_class": "sklearn.ensemble.ExtraTreesRegressor",
     "hyper_parameters": {"n_estimators": 300, "min_samples_leaf": 10, "random_state": ML_SEED}},
]
# prod only: the image the training pods run. By default the deployment's own image, which has include/
# and the lock's packages (Astro sets ASTRONOMER_AIRFLOW_IMAGE to it); elsewhere set TRAINING_IMAGE.
TRAINING_IMAGE = _str("TRAINING_IMAGE", os.environ.get("ASTRONOMER_AIRFLOW_IMAGE", ""))
if ENVIRONMENT == "prod" and not TRAINING_IMAGE:
    raise ValueError("ENVIRONMENT=prod trains in Kubernetes pods: set TRAINING_IMAGE to an image with this project's "
                     "include/ and requirements (on Astro, ASTRONOMER_AIRFLOW_IMAGE is the deployment's own image)")
# The namespace the pods run in: the deployment's own (Airflow's [kubernetes_executor] namespace) by default.
K8S_NAMESPACE = _str("K8S_NAMESPACE", os.environ.get("AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE")
                     or os.environ.get("AIRFLOW__KUBERNETES__NAMESPACE") or "default")
# Secrets that let the pods pull that image (Astro's names for a deployment's registry), comma-separated.
K8S_IMAGE_PULL_SECRETS = tuple(
    name.strip() for name in _str("K8S_IMAGE_PULL_SECRETS", "image-pull-secret,per-dp-registry-pull-secret").split(",")
    if name.strip())
