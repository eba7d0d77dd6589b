"""How close finance_ml's models get to what the data allows, without Airflow.

    .venv/bin/python scripts/bench_models.py                  generated data at 1x and 10x, and reference-style data
    .venv/bin/python scripts/bench_models.py --only 1x        one of: 1x, 10x, reference-style
    .venv/bin/python scripts/bench_models.py --write-reference-style DIR
                                                        write the reference-style CSVs for `make run DATA=DIR`

For each dataset it builds model_satisfaction from the CSV files the way finance_elt's SQL does
(successful paid charges, average captured amount per customer, LEFT JOIN the survey), then runs
finance_ml's own functions: split, cross-validate and fit every model in settings.models. "limit" is
the R2 of the true conditional mean (known because the data is synthetic) over the same folds: the
best any model can reach on those rows. "gap" is limit - best cv_r2.

The reference-style data is NOT the project's generator: its relation (a step in the amount at a speed
score of 6, per product type, additive noise, no unobserved customer effect) follows the description
of the reference project's mock data, with its 19 charge columns and 10 files per kind, so the model
list is checked against a relation it was not chosen on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from include.finance.config import settings  # noqa: E402
from include.finance.contract import CONTRACTS  # noqa: E402
from include.finance.ingestion import mock_data
from include.finance.training import ml

DAY = dt.date(2026, 11, 20)

# The reference-style relation: mean charge per (product type, speed >= 6) cell, in cents.
STEP_BASE = {"starter": 1_000, "pro": 3_000, "business": 8_000}
STEP_UPLIFT = {"starter": 600, "pro": 1_500, "business": 2_500}
STEP_SHARE = {"starter": 0.5, "pro": 0.35, "business": 0.15}
STEP_NOISE = 1_500  # cents, standard deviation of each charge around its cell mean


def step_mean(features: pd.DataFrame) -> np.ndarray:
    base = features["product_type"].map(STEP_BASE).to_numpy(dtype=float)
    uplift = features["product_type"].map(STEP_UPLIFT).to_numpy(dtype=float)
    return base + uplift * (features["customer_satisfaction_speed"].to_numpy() >= 6)


def write_reference_style(out_dir: Path, customers: int = 2000, files: int = 10, seed: int = 7) -> None:
    """Charge and satisfaction CSVs with the reference-style relation, in the project's input layout."""
    rng = np.random.default_rng(seed)
    people = pd.DataFrame({
        "customer_id": [f"cus_ref{i:06d}" for i in range(customers)],
        "customer_satisfaction_speed": rng.integers(1, 11, customers),
        "customer_satisfaction_product": rng.integers(1, 11, customers),
        "customer_satisfaction_service": rng.integers(1, 11, customers),
        "product_type": rng.choice(list(STEP_SHARE), customers, p=list(STEP_SHARE.values())),
    })
    per_customer = rng.integers(1, 9, customers)
    owner = np.repeat(np.arange(customers), per_customer)
    n = len(owner)
    mean = step_mean(people)[owner]
    amount = np.maximum(100, np.round(mean + rng.normal(0, STEP_NOISE, n))).astype(np.int64)
    succeeded = rng.random(n) < 0.9
    created = int(dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.timezone.utc).timestamp())
    charges = pd.DataFrame({column: "" for column in CONTRACTS["charge"].names[:19]}, index=range(n))
    charges = charges.assign(
        id=[f"ch_ref{i:08d}" for i in range(n)], amount=amount, amount_captured=np.where(succeeded, amount, 0),
        amount_refunded=0, currency="usd", created=created + rng.integers(0, 86_400, n),
        customer_id=people["customer_id"].to_numpy()[owner], description="Subscription payment", disputed=False,
        paid=succeeded, status=np.where(succeeded, "succeeded", "failed"),
        outcome_risk_score=rng.integers(0, 100, n),
    )
    for kind, frame in (("charge", charges.sample(frac=1, random_state=seed)),
                        ("satisfaction", people.sample(frac=1, random_state=seed))):
        (out_dir / kind).mkdir(parents=True, exist_ok=True)
        bounds = np.linspace(0, len(frame), files + 1).astype(int)
        for part, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:])):
            frame.iloc[start:stop].to_csv(out_dir / kind / f"{kind}_{part:02d}.csv", index=False)


def model_satisfaction(folder: Path) -> pd.DataFrame:
    """finance_elt's three transforms on the CSVs of `folder`, in pandas."""
    charge = pd.concat(pd.read_csv(p) for p in sorted((folder / "charge").glob("*.csv")))
    survey = pd.concat(pd.read_csv(p) for p in sorted((folder / "satisfaction").glob("*.csv")))
    successful = charge[(charge["status"] == "succeeded") & charge["paid"].astype(bool)]
    average = successful.groupby("customer_id")["amount_captured"].mean().rename(ml.TARGET).reset_index()
    return average.merge(survey.drop_duplicates("customer_id"), on="customer_id", how="left")


def generated_mean(features: pd.DataFrame) -> np.ndarray:
    return mock_data.expected_avg_amount(features["product_type"], features["customer_satisfaction_speed"],
                                         features["customer_satisfaction_product"])


def bench(name: str, folder: Path, truth) -> dict:
    table = model_satisfaction(folder)
    features = ml.engineer_features(table, settings.ml_test_size, settings.ml_seed, settings.min_model_rows)
    limit = ml.cv_r2_of(truth, features, settings.ml_cv_folds, settings.ml_seed)
    print(f"\n{name}: {features['rows']['used']} customers used of {len(table)}, limit (true mean, same folds) "
          f"{limit:.4f}", flush=True)
    print(f"  {'model':<18} {'cv_r2':>7} {'± std':>6} {'r2_test':>7} {'fit_s':>6}", flush=True)
    results = []
    for spec in settings.models:
        result = ml.train_model(features, folds=settings.ml_cv_folds, seed=settings.ml_seed, **spec)
        results.append(result)
        print(f"  {result['model']:<18} {result['cv_r2']:>7.4f} {result['cv_r2_std']:>6.3f} "
              f"{result['r2_test']:>7.4f} {result['fit_seconds']:>6.2f}", flush=True)
    best = ml.select_best(results)
    print(f"  best {best['model']}: cv_r2 {best['cv_r2']:.4f}, gap to limit {limit - best['cv_r2']:+.4f}, "
          f"fit {best['fit_seconds']:.2f} s", flush=True)
    return {"dataset": name, "limit": limit, "best": best["model"], "cv_r2": best["cv_r2"],
            "gap": limit - best["cv_r2"], "fit_seconds": best["fit_seconds"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("1x", "10x", "reference-style"))
    parser.add_argument("--write-reference-style", type=Path, metavar="DIR")
    args = parser.parse_args()
    if args.write_reference_style:
        write_reference_style(args.write_reference_style)
        print(f"wrote {args.write_reference_style}/charge/*.csv and satisfaction/*.csv")
        return 0
    print(f"generator's population limit (mock_data.r2_limit): {mock_data.r2_limit():.4f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, scale in (("1x", 1), ("10x", 10)):
            if args.only in (None, name):
                mock_data.generate_mock_data(Path(tmp) / name, DAY, scale=scale, seed=settings.mock_data_seed)
                rows.append(bench(f"generated {name}", Path(tmp) / name, generated_mean))
        if args.only in (None, "reference-style"):
            write_reference_style(Path(tmp) / "reference")
            rows.append(bench("reference-style", Path(tmp) / "reference", step_mean))
    print("\ndataset             limit   best                cv_r2    gap   fit_s")
    for r in rows:
        print(f"{r['dataset']:<18} {r['limit']:.4f}  {r['best']:<18} {r['cv_r2']:.4f} {r['gap']:+.4f} {r['fit_seconds']:>6.2f}")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s)")
    sys.exit(code)
