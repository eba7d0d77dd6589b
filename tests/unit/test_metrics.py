"""store_metrics without a database: one transaction that replaces the run's rows (tests/db/test_metrics_table.py
runs it against PostgreSQL)."""

import json
from unittest import mock

from psycopg2 import sql as pgsql

from include.finance.training.metrics import COLUMNS, store_metrics


def identifiers(composed) -> list:
    """Every identifier of a composed statement, in order."""
    if isinstance(composed, pgsql.Composed):
        return [i for part in composed.seq for i in identifiers(part)]
    return [composed] if isinstance(composed, pgsql.Identifier) else []


def test_a_run_replaces_its_rows_with_json_for_the_dict_columns_and_creates_nothing():
    conn = mock.MagicMock()
    cur = conn.cursor.return_value.__enter__.return_value
    results = [{"model": "A", "cv_r2": 0.7, "r2_train": 0.9, "r2_test": 0.8, "fit_seconds": 1.0,
                "feature_importance": {"x": 0.5}, "coefficients": None, "hyper_parameters": {"alpha": 1.0}}]

    assert store_metrics(conn, "s", "model_metrics", "run_1", results) == 1
    conn.__enter__.assert_called_once()  # one transaction
    [(delete, params)] = [c.args for c in cur.execute.call_args_list]
    assert pgsql.Identifier("s", "model_metrics") in delete.seq and params == ("run_1",)
    assert "WHERE run_id = %s" in "".join(p.string for p in delete.seq if isinstance(p, pgsql.SQL))  # other runs kept
    [(insert, rows)] = [c.args for c in cur.executemany.call_args_list]
    named = [p for p in identifiers(insert) if p != pgsql.Identifier("s", "model_metrics")]
    assert [pgsql.Identifier(c) for c in ("run_id", "model", *COLUMNS)] == named
    row = dict(zip(("run_id", "model", *COLUMNS), rows[0]))
    assert row["run_id"] == "run_1" and row["model"] == "A" and row["cv_folds"] is None
    assert json.loads(row["feature_importance"]) == {"x": 0.5} and row["coefficients"] is None
