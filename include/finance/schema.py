"""The pipeline's tables besides the raw ones (whose names the contracts give: `CONTRACTS[kind].table`)."""

LOAD_AUDIT = "load_audit"
LOAD_REJECTS = "load_rejects"
MODEL_INPUT_AUDIT = "model_input_audit"
MODEL_SATISFACTION = "model_satisfaction"
MODEL_SATISFACTION_STAGING = "model_satisfaction_staging"  # built and checked, then swapped in
MODEL_METRICS = "model_metrics"
