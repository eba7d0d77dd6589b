-- A chunk of the day's predictions as CSV text.
COPY {partition} (customer_id, ds, predicted_amount_cents, model_version, reason) FROM STDIN WITH (FORMAT csv)
