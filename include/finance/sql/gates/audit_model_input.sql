-- What the day's model table leaves out, counted in the loaded partitions (the rows stay there);
-- a rerun of the day replaces its counts.
INSERT INTO {model_input_audit} AS a (ds, successful_charges, other_currency_charges,
    implausible_charges, survey_answers, orphan_surveys, run_id)
SELECT %(ds)s,
    count(*),
    count(*) FILTER (WHERE currency <> %(currency)s),
    count(*) FILTER (WHERE currency = %(currency)s AND amount_captured > %(max_amount)s),
    (SELECT count(*) FROM {in_satisfaction} WHERE ds = %(ds)s),
    (SELECT count(*) FROM {in_satisfaction} s WHERE s.ds = %(ds)s AND NOT EXISTS
        (SELECT 1 FROM {in_charge} c WHERE c.ds = %(ds)s AND c.customer_id = s.customer_id)),
    %(run_id)s
FROM {in_charge}
WHERE ds = %(ds)s AND status = 'succeeded' AND paid
ON CONFLICT (ds) DO UPDATE SET (successful_charges, other_currency_charges, implausible_charges,
    survey_answers, orphan_surveys, run_id, audited_at) = (EXCLUDED.successful_charges,
    EXCLUDED.other_currency_charges, EXCLUDED.implausible_charges, EXCLUDED.survey_answers,
    EXCLUDED.orphan_surveys, EXCLUDED.run_id, now())
RETURNING successful_charges, other_currency_charges, implausible_charges, survey_answers, orphan_surveys
