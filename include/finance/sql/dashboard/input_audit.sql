-- What model_satisfaction left out of the day's loaded rows (model_input_audit).
SELECT successful_charges, other_currency_charges, implausible_charges, survey_answers, orphan_surveys
FROM {model_input_audit}
WHERE ds = %(ds)s
