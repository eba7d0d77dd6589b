"""Training, `finance_ml` up to its best model: features, cross-validated training and selection (`ml`), the
plots (`plots`), the metrics table (`metrics`), what a run keeps in the bucket (`artifacts`: the model card and the
training rows) and what it shows in MLflow (`tracking`: the day's run and a nested run per model)."""
