import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from include.finance import contract
from include.finance.contract import CONTRACTS
from include.finance.ingestion import mock_data
from include.finance.ingestion.mock_data import BASE_AMOUNT, expected_avg_amount, generate_mock_data, r2_limit
from include.finance.loading.reader import RowReader

REFERENCE_CHARGE_COLUMNS = [
    "id", "amount", "amount_captured", "amount_refunded", "currency", "created", "customer_id", "description",
    "disputed", "outcome_network_status", "outcome_reason", "outcome_risk_level", "outcome_risk_score", "paid",
    "payment_intent", "payment_method", "payment_method_details_card_brand",
    "payment_method_details_card_country", "status",
]
DAY = dt.date(2026, 11, 20)


def read_all(paths):
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    out = tmp_path_factory.mktemp("mock")
    files = generate_mock_data(out, DAY, customers=3000, parts=3, seed=7)
    return {kind: read_all(paths) for kind, paths in files.items()} | {"files": files}


def test_same_seed_and_date_give_the_same_bytes(tmp_path):
    first = generate_mock_data(tmp_path / "a", DAY, customers=300, parts=2, seed=1)
    second = generate_mock_data(tmp_path / "b", DAY, customers=300, parts=2, seed=1)
    for kind in first:
        assert [p.read_bytes() for p in first[kind]] == [p.read_bytes() for p in second[kind]]


def test_another_date_or_seed_gives_other_data(tmp_path):
    base = generate_mock_data(tmp_path / "a", DAY, customers=300, parts=1, seed=1)
    other_day = generate_mock_data(tmp_path / "b", DAY + dt.timedelta(days=1), customers=300, parts=1, seed=1)
    other_seed = generate_mock_data(tmp_path / "c", DAY, customers=300, parts=1, seed=2)
    assert base["charge"][0].read_bytes() != other_day["charge"][0].read_bytes()
    assert base["charge"][0].read_bytes() != other_seed["charge"][0].read_bytes()


def test_part_files_and_columns(day):
    assert [p.name for p in day["files"]["charge"]] == [f"charge_part_00{i}.csv" for i in range(3)]
    assert [p.name for p in day["files"]["satisfaction"]] == [f"satisfaction_part_00{i}.csv" for i in range(3)]
    assert list(day["charge"].columns) == CONTRACTS["charge"].names
    assert list(day["charge"].columns)[:19] == REFERENCE_CHARGE_COLUMNS
    assert list(day["satisfaction"].columns) == CONTRACTS["satisfaction"].names


def assert_keeps_the_contract(files):
    for kind, paths in files.items():
        for path in paths:
            reader = RowReader(CONTRACTS[kind], [path.read_bytes()], path.name)
            rows = list(reader)
            assert rows and reader.rejects == [] and reader.header.absent == [], (path, reader.rejects[:3])
            assert all(value is not None for _, row in rows for value in row[:5])  # the required columns come first


def test_every_generated_row_keeps_the_contract(day):
    assert_keeps_the_contract(day["files"])


def test_the_files_follow_the_contracts_columns(tmp_path, monkeypatch):
    """The generator keeps no list of its own: reorder or drop a contract's optional columns and its files follow."""
    charge = CONTRACTS["charge"]
    kept = tuple(c for c in reversed(charge.columns) if c.required or c.name == "description")
    monkeypatch.setitem(contract.CONTRACTS, "charge", dataclasses.replace(charge, columns=kept))
    files = generate_mock_data(tmp_path, DAY, customers=50, parts=1)
    assert list(pd.read_csv(files["charge"][0]).columns) == [c.name for c in kept]


def test_charges_are_consistent_stripe_charges(day):
    charges = day["charge"]
    assert charges["id"].is_unique and charges["id"].str.match(r"^ch_[0-9A-Za-z]{24}$").all()
    assert charges["customer_id"].str.match(r"^cus_[0-9A-Za-z]{14}$").all()
    succeeded = charges["status"] == "succeeded"
    assert (charges.loc[succeeded, "amount_captured"] == charges.loc[succeeded, "amount"]).all()
    assert (charges.loc[~succeeded, "amount_captured"] == 0).all()
    assert (charges["paid"] == succeeded).all()
    assert (charges["amount_refunded"] <= charges["amount_captured"]).all()
    assert set(charges["status"]) == {"succeeded", "failed", "pending"}
    start = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc).timestamp()
    assert charges["created"].between(start, start + 86_400).all()
    # free text survives the CSV round trip with its comma and quotes
    assert charges["description"].str.contains(', "').all()


def test_size_is_a_parameter(tmp_path):
    files = generate_mock_data(tmp_path, DAY, customers=1000, scale=0.5, parts=1)
    assert len(pd.read_csv(files["satisfaction"][0])) == pytest.approx(500 * 0.97, rel=0.05)


def test_rejects_empty_sizes(tmp_path):
    with pytest.raises(ValueError, match="at least one customer"):
        generate_mock_data(tmp_path, DAY, customers=0)


def per_customer(charges, satisfaction):
    """As the pipeline aggregates: mean captured amount of succeeded charges per customer, joined with the survey."""
    target = charges[charges["status"] == "succeeded"].groupby("customer_id")["amount_captured"].mean()
    return satisfaction.join(target.rename("avg"), on="customer_id", how="inner")


def r2_of_the_truth(data):
    """The R2 of expected_avg_amount, the (unshifted) true mean."""
    best = expected_avg_amount(
        data["product_type"], data["customer_satisfaction_speed"], data["customer_satisfaction_product"]
    )
    return 1 - ((data["avg"] - best) ** 2).sum() / ((data["avg"] - data["avg"].mean()) ** 2).sum()


def test_planted_relation_is_learnable(day):
    """The average captured amount follows product type and speed score; the service score is noise."""
    data = per_customer(day["charge"], day["satisfaction"])

    means = data.groupby("product_type")["avg"].mean()
    assert list(means.sort_values().index) == sorted(BASE_AMOUNT, key=BASE_AMOUNT.get)

    best = expected_avg_amount(
        data["product_type"], data["customer_satisfaction_speed"], data["customer_satisfaction_product"]
    )
    r2_of_truth = r2_of_the_truth(data)
    assert 0.7 < r2_of_truth < 0.99, r2_of_truth

    log_ratio = np.log(data["avg"] / best)
    assert abs(np.corrcoef(log_ratio, data["customer_satisfaction_service"])[0, 1]) < 0.1
    assert np.corrcoef(np.log(data["avg"]), data["customer_satisfaction_speed"])[0, 1] > 0.1


def test_r2_limit_is_what_the_true_mean_scores_on_many_customers(tmp_path):
    """The derived limit matches the R2 of expected_avg_amount on 40,000 generated customers."""
    files = generate_mock_data(tmp_path, DAY, scale=20, seed=5)
    data = per_customer(read_all(files["charge"]), read_all(files["satisfaction"]))
    r2_of_truth = r2_of_the_truth(data)
    assert len(data) > 37_000
    assert r2_limit() == pytest.approx(r2_of_truth, abs=0.01)
    assert 0.78 < r2_limit() < 0.85


def test_large_parts_are_written_in_batches_with_progress(tmp_path, monkeypatch, caplog):
    import logging

    whole = mock_data.generate_mock_data(tmp_path / "whole", dt.date(2026, 11, 20), customers=300, parts=1)
    monkeypatch.setattr(mock_data, "BATCH_CUSTOMERS", 300)  # a part of exactly one batch: the same bytes
    same = mock_data.generate_mock_data(tmp_path / "same", dt.date(2026, 11, 20), customers=300, parts=1)
    assert [p.read_bytes() for p in same["charge"] + same["satisfaction"]] == [
        p.read_bytes() for p in whole["charge"] + whole["satisfaction"]]

    monkeypatch.setattr(mock_data, "BATCH_CUSTOMERS", 100)
    monkeypatch.setattr(mock_data, "PROGRESS_SECONDS", 0)
    with caplog.at_level(logging.INFO, logger=mock_data.__name__):
        batched = mock_data.generate_mock_data(tmp_path / "batched", dt.date(2026, 11, 20), customers=300, parts=1)
    charges, satisfaction = read_all(batched["charge"]), read_all(batched["satisfaction"])
    assert list(charges.columns) == CONTRACTS["charge"].names and charges["id"].is_unique  # one header, then rows
    assert charges["customer_id"].nunique() == 300 and satisfaction["customer_id"].is_unique
    assert set(satisfaction["customer_id"]) <= set(charges["customer_id"])
    progress = [r.getMessage() for r in caplog.records if "rows written" in r.getMessage()]
    assert [m.rsplit("(", 1)[1] for m in progress] == ["100 of 300 customers)", "200 of 300 customers)",
                                                       "300 of 300 customers)"]
    assert any(r.getMessage().endswith(f"{len(charges)} rows generated (part 1/1, 300 customers)") for r in caplog.records)


def test_a_part_written_alone_is_the_same_as_in_the_whole_day(tmp_path):
    """Each mapped upload_part task writes its own part: no part depends on the ones before it."""
    import io

    whole = generate_mock_data(tmp_path, DAY, customers=900, parts=3, seed=3)
    files = {kind: io.StringIO(newline="") for kind in ("charge", "satisfaction")}
    rows = mock_data.write_part(files, 2, logical_date=DAY, customers=900, parts=3, seed=3)
    for kind, text in files.items():
        assert text.getvalue().encode() == whole[kind][2].read_bytes()
        assert rows[kind] == len(pd.read_csv(whole[kind][2]))
    with pytest.raises(ValueError, match="part < parts"):
        mock_data.write_part(files, 3, logical_date=DAY, customers=900, parts=3)


SHIFT_FROM = DAY + dt.timedelta(days=1)


def psi(actual, expected):
    """Population stability index of a categorical column: sum over categories of (a - e) * ln(a / e)."""
    a, e = actual.value_counts(normalize=True), expected.value_counts(normalize=True)
    return float(((a - e) * np.log(a / e)).sum())


def speed_slope(data):
    """The fitted effect of the speed score on log(average amount / base amount of the product type)."""
    log_ratio = np.log(data["avg"] / data["product_type"].map(BASE_AMOUNT))
    return float(np.polyfit(data["customer_satisfaction_speed"], log_ratio, 1)[0])


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """The last day before the shift and the first day of it, generated with the same shift_from."""
    out = tmp_path_factory.mktemp("shift")
    days = {}
    for name, date in (("before", DAY), ("after", SHIFT_FROM)):
        files = generate_mock_data(out / name, date, customers=2000, parts=2, seed=11, shift_from=SHIFT_FROM)
        days[name] = {"files": files, "data": per_customer(read_all(files["charge"]), read_all(files["satisfaction"]))}
    return days


def test_days_before_the_shift_are_unchanged(tmp_path, shifted):
    plain = generate_mock_data(tmp_path / "plain", DAY, customers=2000, parts=2, seed=11)
    for kind in plain:
        assert [p.read_bytes() for p in shifted["before"]["files"][kind]] == [p.read_bytes() for p in plain[kind]]
    # the shifted day draws the same random numbers: same customers and charges, other product types and amounts
    unshifted = generate_mock_data(tmp_path / "unshifted", SHIFT_FROM, customers=2000, parts=2, seed=11)
    after, before = read_all(shifted["after"]["files"]["charge"]), read_all(unshifted["charge"])
    assert list(after["id"]) == list(before["id"]) and list(after["status"]) == list(before["status"])
    assert (after["amount"] != before["amount"]).mean() > 0.5


def test_from_the_shift_on_product_types_drift_and_the_relation_decays(shifted):
    before, after = shifted["before"]["data"], shifted["after"]["data"]
    # drift: product types move up market
    assert psi(after["product_type"], before["product_type"]) > 0.25
    assert psi(before["product_type"], before["product_type"].sample(frac=0.5, random_state=0)) < 0.01
    # decay: the speed score's effect changes, and the old truth scores clearly worse
    assert speed_slope(before) == pytest.approx(mock_data.SPEED_EFFECT, abs=0.02)
    assert speed_slope(after) == pytest.approx(mock_data.SHIFTED_SPEED_EFFECT, abs=0.02)
    assert r2_of_the_truth(before) - r2_of_the_truth(after) >= 0.1


def test_a_shifted_day_keeps_the_contract(shifted):
    assert (shifted["after"]["data"]["product_type"] == "enterprise").mean() > 0.2  # it is a shifted day
    assert_keeps_the_contract(shifted["after"]["files"])
