"""monitoring.measure and its alerts on synthetic days with a known answer: the same population, a
shifted one, and a champion whose R2 decays."""

import numpy as np
from model_tables import LINEAR, satisfaction_table

from include.finance.production import monitoring
from include.finance.training import ml

CHAMPION = {"version": "20260101T000000", "metrics": {"r2_test": 0.95}}


def fitted(frame):
    return ml.build_pipeline(*LINEAR).fit(frame[ml.FEATURES], frame[ml.TARGET])


def test_a_day_like_the_training_rows_raises_no_alert():
    train, today = satisfaction_table(2000, seed=1), satisfaction_table(2000, seed=2)
    rows = monitoring.measure(CHAMPION, fitted(train), train[ml.FEATURES], today, psi_threshold=0.2, r2_decay=0.1)
    assert [(r["metric"], r["feature"]) for r in rows][:2] == [("r2", ""), ("psi", ml.FEATURES[0])]
    assert {r["feature"] for r in rows if r["metric"] == "psi"} == set(ml.FEATURES)
    assert {r["feature"] for r in rows if r["metric"] == "ks"} == set(ml.NUMERIC_FEATURES)  # categories have no order
    assert not any(r["alert"] for r in rows) and monitoring.alert_lines("2026-01-02", rows) == []
    assert all(r["model_version"] == CHAMPION["version"] for r in rows)
    r2 = rows[0]
    assert r2["value"] > 0.9 and np.isclose(r2["threshold"], 0.85)


def test_without_training_rows_only_the_r2_is_measured():
    train, today = satisfaction_table(2000, seed=1), satisfaction_table(2000, seed=2)
    rows = monitoring.measure(CHAMPION, fitted(train), None, today, psi_threshold=0.2, r2_decay=0.1)
    assert [(r["metric"], r["alert"]) for r in rows] == [("r2", False)]


def test_a_shifted_population_and_a_decayed_model_alert():
    train = satisfaction_table(2000, seed=1)
    # a population that buys the dear plan (a drift of product_type) and whose amounts no longer follow speed
    today = satisfaction_table(2000, seed=2, product_types=("premium", "premium", "premium", "basic"), relation="step")
    rows = monitoring.measure(CHAMPION, fitted(train), train[ml.FEATURES], today, psi_threshold=0.2, r2_decay=0.1)
    alerted = {(r["metric"], r["feature"]) for r in rows if r["alert"]}
    assert alerted == {("r2", ""), ("psi", "product_type")}
    lines = monitoring.alert_lines("2026-01-03", rows)
    assert lines[0].startswith(f"ds=2026-01-03 model={CHAMPION['version']} decay: R2 on the day's rows ")
    assert lines[0].endswith("< 0.8500 (its test R2 when trained minus R2_DECAY)")
    assert "drift: product_type PSI " in lines[1] and "> 0.200 (DRIFT_PSI_THRESHOLD)" in lines[1]
