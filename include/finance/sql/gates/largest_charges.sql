-- The day's three largest successful charges above the plausible amount, in the model's currency.
SELECT id, amount_captured, source_file, source_line FROM {in_charge}
WHERE ds = %(day)s AND status = 'succeeded' AND paid AND currency = %(currency)s AND amount_captured > %(max_amount)s
ORDER BY amount_captured DESC, id
LIMIT 3
