-- The days the dashboard can show, newest first: every day something was loaded or predicted.
SELECT ds::text AS ds FROM {load_audit}
UNION
SELECT DISTINCT ds::text FROM {customer_predictions}
ORDER BY ds DESC
