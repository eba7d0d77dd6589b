-- The serving model's R2 and each feature's PSI per day over the days up to the chosen one, with the thresholds.
SELECT ds::text AS ds, metric, feature, value, threshold, alert, model_version
FROM {model_monitoring}
WHERE metric IN ('r2', 'psi') AND ds > %(ds)s::date - %(days)s AND ds <= %(ds)s
ORDER BY ds, metric, feature
