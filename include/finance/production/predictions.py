"""The champion's predictions for every customer of a day, written back to `customer_predictions`
(`include/finance/sql/tables/customer_predictions.sql`): the table a dashboard or a CRM reads.

Every customer of the day's model_satisfaction gets a row: the predicted average amount (cents, whole,
at least 0) and the model version, or, for a customer without survey answers, no prediction and the
reason. The day's partition is replaced in one transaction (a rerun gives the same rows) and rows are
read, predicted and copied `CHUNK_ROWS` at a time, so memory stays flat whatever the day's size. In the same
transaction, `prediction_summary` gets the day's figures per product type (customers, predicted, the amounts'
10th, 50th and 90th percentiles): what the dashboard charts without reading every customer's row.
"""

from __future__ import annotations

import io
import logging

import numpy as np
import pandas as pd

from include.finance import sql
from include.finance.schema import CUSTOMER_PREDICTIONS, MODEL_SATISFACTION, PREDICTION_SUMMARY, day_partition
from include.finance.training import ml

log = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
NO_SURVEY = "no survey answers"


def predict_chunk(model, frame: pd.DataFrame, ds: str, version: str) -> pd.DataFrame:
    """customer_predictions' rows for a chunk of model_satisfaction (key and features)."""
    answered = ml.answered(frame).to_numpy()
    predicted = np.full(len(frame), np.nan)
    if answered.any():
        predicted[answered] = np.maximum(np.round(model.predict(frame.loc[answered, ml.FEATURES])), 0)
    return pd.DataFrame({
        "customer_id": frame[ml.MODEL_KEY].to_numpy(), "ds": ds,
        "predicted_amount_cents": pd.array(np.where(answered, predicted, np.nan), dtype="Int64"),
        "model_version": version, "reason": np.where(answered, None, NO_SURVEY),
    })


def write_predictions(conn, schema: str, ds: str, model, version: str, chunk_rows: int = CHUNK_ROWS) -> dict:
    """Replace day `ds` of customer_predictions by `model`'s (registry `version`) predictions; returns the counts."""
    columns = [ml.MODEL_KEY] + ml.FEATURES
    counts = {"customers": 0, "predicted": 0, NO_SURVEY: 0}
    with conn:
        with conn.cursor() as cur:
            partition = day_partition(cur, schema, CUSTOMER_PREDICTIONS, ds)
            cur.execute(sql.compose("ml/clear_partition.sql", partition=partition))
        with conn.cursor(name="model_satisfaction_day") as rows, conn.cursor() as out:  # server side: chunk by chunk
            rows.execute(sql.compose("ml/model_rows_of_day.sql", columns=sql.identifiers(columns),
                                     table=(schema, MODEL_SATISFACTION), key=ml.MODEL_KEY), (ds,))
            while chunk := rows.fetchmany(chunk_rows):
                frame = predict_chunk(model, pd.DataFrame(chunk, columns=columns), ds, version)
                buffer = io.StringIO()
                frame.to_csv(buffer, index=False, header=False)
                buffer.seek(0)
                out.copy_expert(sql.compose("ml/copy_predictions.sql", partition=partition), buffer)
                counts["customers"] += len(frame)
                counts["predicted"] += int(frame["predicted_amount_cents"].notna().sum())
                counts[NO_SURVEY] += int(frame["reason"].notna().sum())
        with conn.cursor() as cur:  # the day's summary per product type, from the rows just written
            cur.execute(sql.compose("ml/analyze_partition.sql", partition=partition))
            tables = {"prediction_summary": PREDICTION_SUMMARY, "customer_predictions": CUSTOMER_PREDICTIONS,
                      "model_satisfaction": MODEL_SATISFACTION}
            for name in ("clear_prediction_summary", "summarise_predictions"):
                cur.execute(sql.statement(f"ml/{name}.sql", schema, **tables), {"ds": ds})
    log.info("customer_predictions %s: %d customers, %d predicted by %s, %d without a prediction (%s)", ds,
             counts["customers"], counts["predicted"], version, counts[NO_SURVEY], NO_SURVEY)
    return counts
