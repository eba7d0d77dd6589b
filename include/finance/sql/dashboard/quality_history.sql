-- Rows read and rejected, and what the model input left out, per day over the days up to the chosen one.
SELECT a.ds::text AS ds,
       sum(a.rows_read)::bigint AS rows_read,
       sum(a.rows_rejected)::bigint AS rows_rejected,
       sum(a.duplicates_dropped)::bigint AS duplicates_dropped,
       max(m.other_currency_charges) AS other_currency_charges,
       max(m.implausible_charges) AS implausible_charges,
       max(m.orphan_surveys) AS orphan_surveys
FROM {load_audit} a
LEFT JOIN {model_input_audit} m ON m.ds = a.ds
WHERE a.ds > %(ds)s::date - %(days)s AND a.ds <= %(ds)s
GROUP BY a.ds
ORDER BY a.ds
