"""Models in production over a four-day backfill whose last two days are shifted (`make run DAYS=4` with
MOCK_DATA_SHIFT_FROM on day 3): the registry's decisions, the drift and decay alerts, the predictions
written back. Every figure is read from the tables, Airflow's REST API, MLflow's (the model registry's
versions, tags and aliases) and the task logs."""

from pathlib import Path

import pytest

from include.finance.config import PROJECT_ROOT

pytestmark = pytest.mark.integration


def decisions(backfill) -> list[dict]:
    return [backfill["summary"]["days"][ds]["decision"] for ds in backfill["days"]]


def test_every_day_ran_its_own_finance_ml_run_in_order(backfill):
    ml_runs = backfill["summary"]["ml_runs"]
    assert list(ml_runs) == backfill["days"] and len(set(ml_runs.values())) == len(backfill["days"]) == 4
    assert [d["ds"] for d in decisions(backfill)] == backfill["days"]  # each model trained on its own day
    assert [d["version"] for d in decisions(backfill)] == ["1", "2", "3", "4"]  # one registered version per run


def test_mlflow_holds_the_days_runs_and_the_aliases_say_what_serves(backfill):
    mlflow, days = backfill["summary"]["mlflow"], decisions(backfill)
    serving = [d["version"] for d in days if d["decision"] == "promoted"][-1]
    assert mlflow["versions"] == 4 and mlflow["champion"]["version"] == serving
    assert mlflow["runs"] == 4 * 8  # each day's run and its nested run per model (seven)
    assert [d["aliases"] for d in days] == [[], [], ["champion"], ["challenger"]]  # day 3 alone was promoted
    # the manual rerun of the last day with a worse model: a fifth version, the challenger now; the champion stays
    worse = backfill["worse"]
    assert worse["entry"]["version"] == "5" and worse["aliases"] == {"champion": serving, "challenger": "5"}


def test_an_mlflow_server_down_while_a_model_registers_fails_the_try_naming_it_and_the_retry_registers_once(
        backfill):
    outage, tries = backfill["mlflow_outage"], backfill["choose_champion"]
    assert outage["run_id"] == backfill["summary"]["ml_runs"][backfill["days"][-1]]
    assert outage["pid_after"] != outage["pid_before"]  # the server was stopped and started again
    failed = [t for t in tries if t["state"] != "success"]
    assert failed and all(t["start_date"] <= outage["to"] and t["end_date"] >= outage["from"] for t in failed)
    url = f"http://127.0.0.1:{backfill['mlflow_port']}"
    assert all(f"MLflow tracking server {url}: " in t["log"] for t in failed)
    assert tries[-1]["state"] == "success" and tries[-1]["start_date"] > outage["to"]  # a retry, once it was back
    # one version for the run all the same: the last day's, decided once
    assert decisions(backfill)[-1]["version"] == "4" and backfill["summary"]["mlflow"]["versions"] == 4


def test_the_first_days_model_becomes_champion(backfill):
    first = decisions(backfill)[0]
    assert first["reason"].startswith("first model") and first["champion_r2"] is None
    assert first["incumbent_version"] is None and first["status"] != "candidate"


def test_a_challenger_is_promoted_only_when_it_beats_the_champion_on_the_days_rows_by_the_margin(backfill):
    margin = backfill["margin"]
    later = decisions(backfill)[1:]
    for decision in later:
        gain = decision["candidate_r2"] - decision["champion_r2"]
        assert (decision["status"] != "candidate") == (gain >= margin), decision
    promoted = [d["ds"] for d in later if d["status"] != "candidate"]
    assert promoted == [backfill["days"][backfill["shifted_from"] - 1]]  # only the shift makes a better model
    for kept in (d for d in later if d["status"] == "candidate"):
        # not better by the margin on the day's held-out rows: the champion stays and serves the day
        assert kept["champion_r2"] + margin > kept["candidate_r2"]
        day = backfill["summary"]["days"][kept["ds"]]
        assert day["predictions"]["model_versions"] == [kept["incumbent_version"]] != [kept["version"]]


def test_a_challenger_worse_than_the_champion_on_the_days_rows_is_not_promoted(backfill):
    """The last day trained again with a weaker model only (ML_MODELS, a manual run with the day as conf)."""
    worse, last = backfill["worse"], decisions(backfill)[-1]
    entry = worse["entry"]
    assert worse["state"] == "success" and entry["model"] == "RandomForest"
    champion = last["version"] if last["status"] != "candidate" else last["incumbent_version"]
    assert entry["incumbent_version"] == champion and entry["candidate_r2"] < entry["champion_r2"]
    assert entry["status"] == "candidate"
    assert list(worse["predictions"]) == [champion]  # the day's predictions are still the champion's


def test_the_drift_and_decay_alerts_fire_on_the_first_shifted_day_and_not_before(backfill):
    days = backfill["summary"]["days"]
    first, second, shifted = (days[ds] for ds in backfill["days"][:backfill["shifted_from"]])
    assert first["monitoring"] == []  # no champion before the first day
    assert second["monitoring"] and not [r for r in second["monitoring"] if r["alert"]]
    alerts = {(r["metric"], r["feature"]) for r in shifted["monitoring"] if r["alert"]}
    assert ("psi", "product_type") in alerts and ("r2", "") in alerts
    # ... measured against the champion that served until then, trained on an unshifted day
    shifted_decision = decisions(backfill)[backfill["shifted_from"] - 1]
    assert {r["model_version"] for r in shifted["monitoring"]} == {shifted_decision["incumbent_version"]}
    assert shifted_decision["incumbent_version"] in [d["version"] for d in decisions(backfill)[:2]]
    logs = backfill["monitor_logs"]
    shifted_day = backfill["days"][backfill["shifted_from"] - 1]
    alert = f"MODEL ALERT dag=finance_ml task=monitor_model run={backfill['summary']['ml_runs'][shifted_day]} ds={shifted_day} "
    assert alert in logs[shifted_day] and "drift: product_type PSI" in logs[shifted_day]
    assert "decay: R2 on the day's rows" in logs[shifted_day]
    for ds in backfill["days"][:backfill["shifted_from"] - 1]:
        assert "MODEL ALERT" not in logs[ds]


def test_customer_predictions_hold_each_day_with_one_model_version(backfill, finance_db):
    with finance_db.cursor() as cur:
        cur.execute("SELECT ds::text, count(*), count(predicted_amount_cents), count(DISTINCT model_version),"
                    " min(model_version), count(*) FILTER (WHERE reason = 'no survey answers')"
                    " FROM public.customer_predictions WHERE ds = ANY(%s::date[]) GROUP BY ds ORDER BY ds",
                    (backfill["days"],))
        rows = cur.fetchall()
        cur.execute("SELECT ds::text, count(*), count(*) FILTER (WHERE product_type IS NULL)"
                    " FROM public.model_satisfaction WHERE ds = ANY(%s::date[]) GROUP BY ds ORDER BY ds",
                    (backfill["days"],))
        customers = {ds: (n, without) for ds, n, without in cur.fetchall()}
    assert [row[0] for row in rows] == backfill["days"]
    for ds, n, predicted, versions, version, no_survey in rows:
        assert versions == 1 and (n, no_survey) == customers[ds] and no_survey > 0
        assert predicted + no_survey == n  # a prediction or the reason, for every customer of the day
        assert backfill["summary"]["days"][ds]["predictions"]["model_versions"] == [version]


def test_the_monitoring_plot_is_uploaded_with_the_last_run(backfill):
    [plot] = [Path(p) for p in backfill["summary"]["plots"] if p.endswith("/monitoring.png")]
    assert (plot if plot.is_absolute() else PROJECT_ROOT / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
