"""The pipeline's settings: one object, `settings`, built once from the environment.

Every field is read from the environment variable of the same name in upper case (documented in
`.env_example`) and cast here, so DAG files, tasks and the local stack never touch `os.environ`.
`ENVIRONMENT` picks a profile, the defaults of where the pipeline runs:

- `local`  (`make run`, `make test`): the project's own PostgreSQL on 127.0.0.1, moto's S3 endpoint.
- `docker` (`astro dev start`): the compose override's `postgres_data` and MinIO (`.env_example` sets it).
- `prod`   (`astro deploy`): your database (`DB_HOST`, `DB_PORT`, `DB_NAME` required); models train in
  Kubernetes pods of the deployment's image.

The connections themselves (hosts, keys) are Airflow connections, defined outside the code; the
profile's database names where the data is for the dataset URI, which must name the real database.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Mapping

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Profile:
    db_host: str
    db_port: int
    db_name: str
    train_in_pods: bool


# The pipeline's DAGs, in the order a day runs through them (each DAG file's function has the name).
DAG_IDS = ("in_finance_data", "finance_elt", "finance_ml")

PROFILES = {
    "local": Profile(db_host="127.0.0.1", db_port=25432, db_name="finance", train_in_pods=False),
    "docker": Profile(db_host="postgres_data", db_port=5432, db_name="postgres", train_in_pods=False),
    "prod": Profile(db_host="", db_port=5432, db_name="", train_in_pods=True),
}


# The models finance_ml trains and compares, one mapped task each: a unique name, the estimator's
# class path and its hyperparameters. Each runs as the last step of the same Pipeline (scaled scores,
# one-hot product type). To add a model, add an entry; set random_state (to ML_SEED) where the class has
# one, so that the run is reproducible.
def _models(seed: int) -> list[dict]:
    return [
        # The reference project's four models. Its RandomForest has 2,000 fully grown trees; 100 (scikit-learn's
        # default) score the same (cv_r2 0.7907 against 0.7918 at 1x, 0.7468 against 0.7485 at 10x) in a
        # twentieth of the time and memory (2,000 trees on 16,000 rows peak at 1.6 GB in a task): docs/results.md.
        {"name": "RandomForest", "model_class": "sklearn.ensemble.RandomForestRegressor",
         "hyper_parameters": {"n_estimators": 100, "random_state": seed}},
        {"name": "LinearRegression", "model_class": "sklearn.linear_model.LinearRegression", "hyper_parameters": {}},
        {"name": "RidgeCV", "model_class": "sklearn.linear_model.RidgeCV",
         "hyper_parameters": {"alphas": [0.1, 1.0, 10.0]}},
        {"name": "Lasso", "model_class": "sklearn.linear_model.Lasso", "hyper_parameters": {"alpha": 2.0}},
        # A generalised linear model with a log link: the mean amount is exp(linear function of the
        # features), and the noise grows with the amount. Amounts must be >= 0 (the contract ensures it).
        {"name": "PoissonGLM", "model_class": "sklearn.linear_model.PoissonRegressor",
         "hyper_parameters": {"alpha": 1e-4, "max_iter": 1000}},
        # Shallow gradient-boosted trees: any shape of relation, few interactions, early stopping off
        # so that the result does not depend on an internal validation split.
        {"name": "GradientBoosting", "model_class": "sklearn.ensemble.HistGradientBoostingRegressor",
         "hyper_parameters": {"loss": "poisson", "max_depth": 2, "learning_rate": 0.1, "max_iter": 200,
                              "early_stopping": False, "random_state": seed}},
        # A forest that cannot memorise single customers: leaves of at least 10 customers.
        {"name": "RegularisedForest", "model_class": "sklearn.ensemble.ExtraTreesRegressor",
         "hyper_parameters": {"n_estimators": 300, "min_samples_leaf": 10, "random_state": seed}},
    ]


@dataclass(frozen=True)
class Settings:
    # Where the pipeline runs (a key of PROFILES).
    environment: str = "local"
    # Connections (defined in .env / the local stack / the deployment, never in code) and where the data is.
    aws_conn_id: str = "aws_default"
    db_conn_id: str = "postgres_default"
    mlflow_conn_id: str = "mlflow_default"  # the MLflow tracking server and model registry (include/finance/training/tracking.py)
    db_schema: str = "public"
    db_host: str = ""  # default: the profile's
    db_port: int = 0  # default: the profile's
    db_name: str = ""  # default: the profile's
    # The role that may only read DB_SCHEMA (made by finance_elt's create_tables): the dashboard's login is a member.
    db_reader_role: str = "finance_reader"
    # Where the results dashboard is (dashboard/app.py), for the Airflow UI's link to it (plugins/finance_dashboard.py).
    dashboard_url: str = "http://localhost:8501"
    # Object storage layout: <kind>/dt=<logical date>/<kind>_part_NNN.csv, and one manifest per kind and date
    # that is written last and marks the partition complete (include/finance/ingestion/bucket.py).
    data_bucket_name: str = "finance-elt-ml-data"
    # Sensors: seconds between checks of the deferrable S3 sensors, and when to give up waiting for a day's
    # files. An unreachable S3 endpoint fails a check; it is retried after 15, 30, 60, 120, 240 s.
    poke_interval: int = 60
    sensor_timeout: int = 6 * 60 * 60
    sensor_retries: int = 5
    sensor_retry_delay: int = 15  # seconds before the first retry, doubling after
    # Every other task (the quality gates have none): two retries, this many seconds apart.
    task_retry_delay: int = 30
    # Quality gates of finance_elt: a failing check stops the run before model_satisfaction is replaced
    # (and before the dataset that triggers finance_ml is emitted).
    min_input_rows: int = 1  # loaded rows per kind and day
    max_rejected_share: float = 0.05  # of the day's rows read, per kind
    min_model_rows: int = 50  # rows of model_satisfaction (customers)
    # What model_satisfaction averages: successful charges in one currency (Stripe's lowercase ISO code) whose
    # captured amount is plausible. The others stay in in_charge and are counted in model_input_audit with the
    # survey answers of customers without any charge that day; a day fails its gate only when too many of its
    # charges were implausible or too many of its answers orphans.
    model_currency: str = "usd"
    max_charge_amount: int = 10_000_000  # cents: a charge above $100,000 is a unit error
    max_implausible_share: float = 0.01  # of the day's successful charges in MODEL_CURRENCY
    max_orphan_share: float = 0.05  # survey answers of customers without a charge that day
    # Mock data: SCALE multiplies the number of customers (1 = about the reference's size).
    mock_data_seed: int = 42
    mock_data_scale: float = 1.0
    mock_data_customers: int = 2000  # at scale 1
    mock_data_parts: int = 4  # part files per kind
    # From this day on (an ISO date, e.g. 2026-01-03; empty: never) the generated customers buy dearer plans
    # and their amounts follow another speed effect: a planted shift for the model monitoring (ingestion/mock_data.py).
    mock_data_shift_from: str = ""
    # A folder with the user's own CSVs (charge/*.csv, satisfaction/*.csv, or *.csv.gz) to ingest instead of mock
    # data: a path on the machine that runs in_finance_data's tasks (on a deployment, the worker's; relative to
    # the project).
    input_data_dir: Path | None = None
    # Machine learning.
    ml_seed: int = 42
    ml_test_size: float = 0.2
    ml_cv_folds: int = 5  # k of the k-fold cross-validation models are selected on
    # The models to train, by name (comma-separated): by default every model of `_models` above.
    ml_models: tuple[str, ...] = ()
    # Customers finance_ml trains on at most: a fixed pseudo-random sample of model_satisfaction when it has
    # more. Training time stays flat past ~10x the default data (docs/results.md).
    ml_max_rows: int = 20_000
    # Where finance_ml keeps each run's best model, model card and plots in the data bucket:
    # <ML_ARTIFACTS_PREFIX>/<run's logical date, e.g. 20261121T093000>/...
    ml_artifacts_prefix: str = "ml-runs"
    # MLflow: the experiment each finance_ml run is a run of (one nested run per model), and the registered model
    # whose versions are the runs' best models; the serving version carries the alias `champion`.
    mlflow_experiment: str = "finance_ml"
    mlflow_registered_model: str = "finance_satisfaction"
    # Models in production (include/finance/production/registry.py, drift.py): a run's best model replaces the serving one
    # (the champion) only if its R2 on the day's held-out rows beats the champion's on the same rows by this much.
    promotion_margin: float = 0.01
    # Monitoring alerts: an input feature whose PSI against the champion's training rows exceeds this, and a
    # champion whose R2 on the day's rows falls more than R2_DECAY below its R2 when it was trained.
    drift_psi_threshold: float = 0.2
    r2_decay: float = 0.1
    # prod only: the image the training pods run. By default the deployment's own image, which has include/ and
    # the lock's packages (Astro sets ASTRONOMER_AIRFLOW_IMAGE to it); elsewhere set TRAINING_IMAGE.
    training_image: str = ""
    # The namespace the pods run in: the deployment's own (Airflow's [kubernetes_executor] namespace) by default.
    k8s_namespace: str = "default"
    # Secrets that let the pods pull that image (Astro's names for a deployment's registry), comma-separated.
    k8s_image_pull_secrets: tuple[str, ...] = ("image-pull-secret", "per-dp-registry-pull-secret")
    # The Kubernetes secret whose keys MLFLOW_TRACKING_URI, MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD the
    # training pods get as environment variables: where they log their models (include/finance/training/tracking.py).
    k8s_mlflow_secret: str = "mlflow-tracking"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        values = {}
        for f in fields(cls):
            raw = env.get(f.name.upper(), "").strip()
            if raw:
                values[f.name] = _cast(f.name.upper(), f.type, raw)
        profile = values.setdefault("environment", cls.environment).lower()
        if profile not in PROFILES:
            raise ValueError(f"environment variable ENVIRONMENT must be one of {', '.join(PROFILES)}, got {profile!r}")
        values["environment"] = profile
        defaults = PROFILES[profile]
        for name in ("db_host", "db_port", "db_name"):
            values.setdefault(name, getattr(defaults, name))
            if not values[name]:
                raise ValueError(f"ENVIRONMENT={profile}: set {name.upper()}, where the pipeline's database is "
                                 "(it names the dataset finance_ml is scheduled on)")
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", values.get("db_schema", cls.db_schema)):
            # the project quotes it everywhere, but the Astro SDK names a Table of the transforms as
            # schema.table, unquoted and lower-cased
            raise ValueError(f"environment variable DB_SCHEMA must be a lower-case SQL name (a-z, 0-9, _), "
                             f"got {values['db_schema']!r}")
        if values.get("mock_data_shift_from"):
            try:
                dt.date.fromisoformat(values["mock_data_shift_from"])
            except ValueError:
                raise ValueError("environment variable MOCK_DATA_SHIFT_FROM must be a date like 2026-01-03, "
                                 f"got {values['mock_data_shift_from']!r}") from None
        values["model_currency"] = values.get("model_currency", cls.model_currency).lower()
        if values.get("input_data_dir") is not None:
            values["input_data_dir"] = PROJECT_ROOT / values["input_data_dir"]
        values.setdefault("training_image", env.get("ASTRONOMER_AIRFLOW_IMAGE", "").strip())
        values.setdefault("k8s_namespace", env.get("AIRFLOW__KUBERNETES_EXECUTOR__NAMESPACE")
                          or env.get("AIRFLOW__KUBERNETES__NAMESPACE") or cls.k8s_namespace)
        settings = cls(**values)
        unknown = sorted(set(settings.ml_models) - {m["name"] for m in _models(settings.ml_seed)})
        if unknown:
            raise ValueError(f"environment variable ML_MODELS names unknown model(s) {', '.join(unknown)}; the models are "
                             + ", ".join(m["name"] for m in _models(settings.ml_seed)))
        if settings.train_in_pods and not settings.training_image:
            raise ValueError("ENVIRONMENT=prod trains in Kubernetes pods: set TRAINING_IMAGE to an image with this "
                             "project's include/ and requirements (on Astro, ASTRONOMER_AIRFLOW_IMAGE is the "
                             "deployment's own image)")
        return settings

    @property
    def train_in_pods(self) -> bool:
        return PROFILES[self.environment].train_in_pods

    @property
    def xcom_storage_url(self) -> str:
        """Where the Astro SDK keeps XCom values too large for the metadata database (dataframes)."""
        return f"s3://{self.data_bucket_name}/xcom"

    def astro_sdk_env(self) -> dict[str, str]:
        """The Airflow settings the Astro SDK reads at import: the local stack sets them from here, the
        Dockerfile sets the same values (tests/unit/test_project_files.py checks)."""
        return {"AIRFLOW__ASTRO_SDK__XCOM_STORAGE_CONN_ID": self.aws_conn_id,
                "AIRFLOW__ASTRO_SDK__XCOM_STORAGE_URL": self.xcom_storage_url}

    @property
    def shift_from(self) -> dt.date | None:
        return dt.date.fromisoformat(self.mock_data_shift_from) if self.mock_data_shift_from else None

    @property
    def models(self) -> list[dict]:
        return [m for m in _models(self.ml_seed) if not self.ml_models or m["name"] in self.ml_models]


def _cast(name: str, kind: str, raw: str):
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None
    if kind.startswith("tuple"):
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw  # str, and Path | None (made absolute in from_env)


settings = Settings.from_env()


def or_settings(**given) -> tuple:
    """Each value given, or where it is None the setting its keyword names: the one home of a default that a
    function's parameter would otherwise repeat (`or_settings(ml_seed=seed)`)."""
    return tuple(getattr(settings, name) if value is None else value for name, value in given.items())
