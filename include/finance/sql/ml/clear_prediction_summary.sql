-- Day %(ds)s of prediction_summary, before summarise_predictions.sql writes it again.
DELETE FROM {prediction_summary} WHERE ds = %(ds)s
