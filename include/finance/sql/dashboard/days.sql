-- The days the dashboard can show, newest first: every day something was loaded or decided on (a day's
-- predictions come with its decision).
SELECT ds::text AS ds FROM {load_audit}
UNION
SELECT ds::text FROM {model_decisions}
ORDER BY ds DESC
