"""Seeded mock data: Stripe-like charges and customer-satisfaction scores as CSV part files.

The planted relation (what the models in finance_ml can learn):

    mean charge of customer c = BASE_AMOUNT[product_type]
                                * exp(SPEED_EFFECT * (speed - 5) + PRODUCT_EFFECT * (product - 5))
                                * taste_c                       (taste_c ~ LogNormal(0, TASTE_SIGMA))
    each charge amount        = mean charge * LogNormal(0, CHARGE_SIGMA)

`customer_satisfaction_service` is pure noise, and so is everything in the charge table except
amounts and status. `taste_c` is unobserved and a customer has only a few charges: that is why no model can reach
R2 = 1. The best possible model predicts `expected_avg_amount` below; `r2_limit` is its R2.

Each file has the columns of its kind's contract (`include/finance/contract.py`), in its order,
every one filled. The same (seed, logical date, size) always gives the same bytes; another date gives
another day.

A planted shift, for model monitoring to catch: `write_part` and `generate_mock_data` take
`shift_from` (a date, or None for never; the DAG passes the setting `MOCK_DATA_SHIFT_FROM`, an ISO
date, empty = never). Every day on or after `shift_from` draws its customers from a shifted
population (`SHIFTED`), days before it are byte-identical to those generated without a shift:

- drift: product types move up market, `SHIFTED_PRODUCT_TYPE_SHARE` instead of `PRODUCT_TYPE_SHARE`
  (a PSI of about 0.48 on product_type);
- decay: the speed score's effect on the mean charge is `SHIFTED_SPEED_EFFECT` instead of
  `SPEED_EFFECT`, so a model of the old relation scores worse: `expected_avg_amount` (and
  `r2_limit`) stay the unshifted truth, whose R2 falls from about 0.81 to about 0.6.

A shifted day draws the same random numbers in the same order, only with these shares and this effect.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from include.finance.config import or_settings
from include.finance.contract import CONTRACTS, KINDS
from include.finance.ingestion.bucket import part_name

log = logging.getLogger(__name__)

BASE_AMOUNT = {"basic": 1_500, "standard": 4_000, "premium": 9_000, "enterprise": 20_000}  # cents
PRODUCT_TYPE_SHARE = {"basic": 0.40, "standard": 0.30, "premium": 0.20, "enterprise": 0.10}
SPEED_EFFECT = 0.08
PRODUCT_EFFECT = 0.04
TASTE_SIGMA = 0.25
CHARGE_SIGMA = 0.35
MEAN_CHARGES_PER_CUSTOMER = 3.5
STATUS_SHARE = {"succeeded": 0.88, "failed": 0.08, "pending": 0.04}
NO_SURVEY_SHARE = 0.03  # customers who never answered the satisfaction survey
SHIFTED_PRODUCT_TYPE_SHARE = {"basic": 0.15, "standard": 0.25, "premium": 0.35, "enterprise": 0.25}
SHIFTED_SPEED_EFFECT = 0.0  # the speed score stops mattering

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype="S1")
_FAILURE_CODES = np.array(["card_declined", "insufficient_funds", "expired_card", "incorrect_cvc"])
_CARD_BRANDS = np.array(["visa", "mastercard", "amex", "discover"])
_CARD_COUNTRIES = np.array(["US", "GB", "DE", "FR", "CA", "NL", "AU"])


@dataclasses.dataclass(frozen=True)
class Population:
    """What a day's customers are drawn from: the product-type shares and the speed score's effect."""

    product_type_share: dict[str, float]
    speed_effect: float


UNSHIFTED = Population(PRODUCT_TYPE_SHARE, SPEED_EFFECT)
SHIFTED = Population(SHIFTED_PRODUCT_TYPE_SHARE, SHIFTED_SPEED_EFFECT)


def population(logical_date: dt.date, shift_from: dt.date | None = None) -> Population:
    """The shifted population on and after `shift_from`, the unshifted one before it (or without it)."""
    return SHIFTED if shift_from is not None and logical_date >= shift_from else UNSHIFTED


def expected_avg_amount(product_type, speed, product):
    """The mean of a customer's average captured amount given what the data shows (cents).

    The best any model can predict: E[taste] and E[charge noise] are exp(sigma^2 / 2).
    """
    base = pd.Series(product_type).map(BASE_AMOUNT).to_numpy(dtype=float)
    log_mean = SPEED_EFFECT * (np.asarray(speed) - 5) + PRODUCT_EFFECT * (np.asarray(product) - 5)
    return base * np.exp(log_mean + (TASTE_SIGMA**2 + CHARGE_SIGMA**2) / 2)


def r2_limit() -> float:
    """The R2 that `expected_avg_amount` scores on an unlimited number of generated customers.

    No model can do better on average. With f(x) = BASE_AMOUNT[type] * exp(SPEED_EFFECT * (speed - 5)
    + PRODUCT_EFFECT * (product - 5)) and S >= 1 successful charges (a customer with none is not in
    model_satisfaction), a customer's average y = f(x) * taste * mean of S charge factors, so

        E[y | x]   = f(x) * c,  c = exp((TASTE_SIGMA^2 + CHARGE_SIGMA^2) / 2)
        Var(y | x) = f(x)^2 * k,  k = exp(2 TASTE_SIGMA^2) * (exp(CHARGE_SIGMA^2)
                     + (exp(2 CHARGE_SIGMA^2) - exp(CHARGE_SIGMA^2)) * E[1/S | S >= 1]) - c^2
        limit      = c^2 Var(f) / (c^2 Var(f) + k E[f^2])

    over the generator's distributions (product-type shares, scores uniform on 0-10, charges per
    customer 1 + Poisson, each succeeding with STATUS_SHARE["succeeded"]). Rounding amounts to whole
    cents and the 50-cent floor are left out (their effect is below 0.001).
    """
    from scipy import stats

    scores = np.arange(11) - 5
    share = np.array(list(PRODUCT_TYPE_SHARE.values()))
    base = np.array([BASE_AMOUNT[t] for t in PRODUCT_TYPE_SHARE], dtype=float)
    mean_f = (share * base).sum() * np.exp(SPEED_EFFECT * scores).mean() * np.exp(PRODUCT_EFFECT * scores).mean()
    mean_f2 = ((share * base**2).sum() * np.exp(2 * SPEED_EFFECT * scores).mean()
               * np.exp(2 * PRODUCT_EFFECT * scores).mean())
    # E[1/S | S >= 1]: N = 1 + Poisson(MEAN - 1) charges, S ~ Binomial(N, p) of them succeed.
    charges = np.arange(1, 100)
    p_charges = stats.poisson.pmf(charges - 1, MEAN_CHARGES_PER_CUSTOMER - 1)
    succeeded = np.arange(1, 100)
    p_succeeded = p_charges @ stats.binom.pmf(succeeded[None, :], charges[:, None], STATUS_SHARE["succeeded"])
    mean_inverse = (p_succeeded / succeeded).sum() / p_succeeded.sum()
    c2 = np.exp(TASTE_SIGMA**2 + CHARGE_SIGMA**2)
    k = np.exp(2 * TASTE_SIGMA**2) * (np.exp(CHARGE_SIGMA**2)
                                      + (np.exp(2 * CHARGE_SIGMA**2) - np.exp(CHARGE_SIGMA**2)) * mean_inverse) - c2
    explained = c2 * (mean_f2 - mean_f**2)
    return float(explained / (explained + k * mean_f2))


def _ids(rng: np.random.Generator, prefix: str, n: int, length: int = 24) -> np.ndarray:
    chars = _ALPHABET[rng.integers(0, len(_ALPHABET), size=(n, length))]
    return np.char.add(prefix, chars.view(f"S{length}").ravel().astype(str))


def _customers(rng: np.random.Generator, n: int, drawn_from: Population = UNSHIFTED) -> pd.DataFrame:
    shares = drawn_from.product_type_share
    product_type = rng.choice(list(shares), size=n, p=list(shares.values()))
    speed = rng.integers(0, 11, size=n)
    product = rng.integers(0, 11, size=n)
    service = rng.integers(0, 11, size=n)
    base = pd.Series(product_type).map(BASE_AMOUNT).to_numpy(dtype=float)
    mean_charge = base * np.exp(
        drawn_from.speed_effect * (speed - 5) + PRODUCT_EFFECT * (product - 5) + rng.normal(0, TASTE_SIGMA, n)
    )
    return pd.DataFrame(
        {
            "customer_id": _ids(rng, "cus_", n, 14),
            "customer_satisfaction_speed": speed,
            "customer_satisfaction_product": product,
            "customer_satisfaction_service": service,
            "product_type": product_type,
            "mean_charge": mean_charge,
            "answered_survey": rng.random(n) >= NO_SURVEY_SHARE,
        }
    )


def _charges(rng: np.random.Generator, customers: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    per_customer = 1 + rng.poisson(MEAN_CHARGES_PER_CUSTOMER - 1, size=len(customers))
    owner = np.repeat(np.arange(len(customers)), per_customer)
    n = len(owner)
    amount = np.maximum(
        50, np.round(customers["mean_charge"].to_numpy()[owner] * rng.lognormal(0, CHARGE_SIGMA, n))
    ).astype(np.int64)
    status = rng.choice(list(STATUS_SHARE), size=n, p=list(STATUS_SHARE.values()))
    succeeded = status == "succeeded"
    failed = status == "failed"
    refunded_part = np.where(succeeded & (rng.random(n) < 0.05), rng.uniform(0.1, 1.0, n), 0.0)
    amount_refunded = np.round(amount * refunded_part).astype(np.int64)
    risk_score = np.clip(np.round(rng.gamma(2.0, 12.0, n)), 0, 99).astype(int)
    risk_level = np.select([risk_score >= 75, risk_score >= 65], ["highest", "elevated"], "normal")
    midnight = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())
    product_type = pd.Series(customers["product_type"].to_numpy()[owner])
    invoice = pd.Series(rng.integers(10_000, 99_999, n).astype(str))
    frame = pd.DataFrame(
        {
            "id": _ids(rng, "ch_", n),
            "amount": amount,
            "amount_captured": np.where(succeeded, amount, 0),
            "amount_refunded": amount_refunded,
            "currency": "usd",
            "created": midnight + np.sort(rng.integers(0, 86_400, n)),
            "customer_id": customers["customer_id"].to_numpy()[owner],
            # Free text with a comma and quotes, as real descriptions have.
            "description": "Invoice " + invoice + ', "' + product_type + '" plan',
            "disputed": succeeded & (rng.random(n) < 0.005),
            "outcome_network_status": np.where(failed, "declined_by_network", "approved_by_network"),
            "outcome_reason": np.where(failed, rng.choice(_FAILURE_CODES, n), ""),
            "outcome_risk_level": risk_level,
            "outcome_risk_score": risk_score,
            "paid": succeeded,
            "payment_intent": _ids(rng, "pi_", n),
            "payment_method": _ids(rng, "pm_", n),
            "payment_method_details_card_brand": rng.choice(_CARD_BRANDS, n, p=[0.5, 0.3, 0.15, 0.05]),
            "payment_method_details_card_country": rng.choice(_CARD_COUNTRIES, n),
            "status": status,
            "captured": succeeded,
            "refunded": amount_refunded == amount,
            "livemode": False,
            "failure_code": np.where(failed, rng.choice(_FAILURE_CODES, n), ""),
            "outcome_type": np.where(failed, "issuer_declined", "authorized"),
            "payment_method_details_card_funding": rng.choice(["credit", "debit"], n),
            "payment_method_details_card_last4": np.char.zfill(rng.integers(0, 10_000, n).astype(str), 4),
        }
    )
    return frame[CONTRACTS["charge"].names]


PROGRESS_SECONDS = 10  # a log line at least this often while a large part is written
BATCH_CUSTOMERS = 5_000  # customers generated and written at a time: memory stays flat at any size


def write_part(
    files: dict[str, TextIO],
    part: int,
    *,
    logical_date: dt.date,
    customers: int | None = None,
    scale: float | None = None,
    parts: int | None = None,
    seed: int | None = None,
    shift_from: dt.date | None = None,
) -> dict[str, int]:
    """Write part `part` (of `parts`) of one day's charges and satisfaction scores as CSV text into
    `files` (kind -> text file: local, or streamed to object storage); return the rows per kind.

    Customers are split evenly across parts; a part is generated `BATCH_CUSTOMERS` customers at a
    time, each part from its own seeded streams, so parts can be written by separate processes.
    From `shift_from` on (if given) the customers come from the shifted population (module docstring).
    `customers`, `scale`, `parts` and `seed` not given are the settings' (MOCK_DATA_CUSTOMERS, ...).
    """
    customers, scale, parts, seed = or_settings(mock_data_customers=customers, mock_data_scale=scale,
                                                mock_data_parts=parts, mock_data_seed=seed)
    n_customers = int(round(customers * scale))
    if n_customers < 1 or parts < 1 or not 0 <= part < parts:
        raise ValueError(f"need at least one customer and part 0 <= part < parts, got {n_customers=} {part=} {parts=}")
    drawn_from = population(logical_date, shift_from)
    day_key = logical_date.year * 10_000 + logical_date.month * 100 + logical_date.day
    bounds = np.linspace(0, n_customers, parts + 1).astype(int)
    start, stop = bounds[part], bounds[part + 1]
    rows = dict.fromkeys(KINDS, 0)
    last_report = time.monotonic()
    # (an empty part still gets one empty batch, for its header)
    for batch, first in enumerate(range(start, max(stop, start + 1), BATCH_CUSTOMERS)):
        # the first batch of a part has the part's own stream, so parts below the batch size
        # give the same bytes as when they were written whole
        rng = np.random.default_rng([seed, day_key, part] + ([batch] if batch else []))
        people = _customers(rng, min(BATCH_CUSTOMERS, stop - first), drawn_from)
        charges = _charges(rng, people, logical_date)
        surveyed = people[people["answered_survey"]][CONTRACTS["satisfaction"].names]
        surveyed = surveyed.sample(frac=1, random_state=rng)
        for kind, frame in (("charge", charges), ("satisfaction", surveyed)):
            frame.to_csv(files[kind], index=False, header=batch == 0)
            rows[kind] += len(frame)
        if time.monotonic() - last_report >= PROGRESS_SECONDS:
            last_report = time.monotonic()
            log.info("%s: %d rows written (%d of %d customers)", part_name("charge", part), rows["charge"],
                     first + len(people) - start, stop - start)
    for kind in KINDS:
        log.info("%s: %d rows generated (part %d/%d, %d customers)", part_name(kind, part), rows[kind], part + 1,
                 parts, stop - start)
    return rows


def generate_mock_data(
    out_dir: str | Path,
    logical_date: dt.date,
    *,
    customers: int | None = None,
    scale: float | None = None,
    parts: int | None = None,
    seed: int | None = None,
    shift_from: dt.date | None = None,
) -> dict[str, list[Path]]:
    """Write every part of one day into local files; return their paths per kind (tests, benches and
    `make run DATA=...` examples; the ingestion DAG streams each part to object storage instead).

    Files land in `<out_dir>/charge/charge_part_NNN.csv` and `<out_dir>/satisfaction/satisfaction_part_NNN.csv`.
    `customers`, `scale`, `parts` and `seed` not given are the settings' (`write_part`).
    """
    customers, scale, parts, seed = or_settings(mock_data_customers=customers, mock_data_scale=scale,
                                                mock_data_parts=parts, mock_data_seed=seed)
    if parts < 1:
        raise ValueError(f"need at least one part, got {parts=}")
    out_dir = Path(out_dir)
    written: dict[str, list[Path]] = {kind: [] for kind in KINDS}
    for part in range(parts):
        paths = {kind: out_dir / kind / part_name(kind, part) for kind in KINDS}
        with contextlib.ExitStack() as stack:
            for path in paths.values():
                path.parent.mkdir(parents=True, exist_ok=True)
            files = {kind: stack.enter_context(open(path, "w", newline="")) for kind, path in paths.items()}
            write_part(files, part, logical_date=logical_date, customers=customers, scale=scale, parts=parts, seed=seed,
                       shift_from=shift_from)
        for kind, path in paths.items():
            written[kind].append(path)
    return written
