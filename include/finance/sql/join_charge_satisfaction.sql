{# One row per paying customer of the day, with the survey answers where the customer gave any (NULL otherwise);
   the columns of model_satisfaction (schema.MODEL_SATISFACTION_COLUMNS). #}
SELECT
    a.customer_id,
    s.customer_satisfaction_speed,
    s.customer_satisfaction_product,
    s.customer_satisfaction_service,
    s.product_type,
    a.avg_amount_captured,
    CAST({{ day }} AS date) AS ds
FROM {{ avg_per_customer }} AS a
LEFT JOIN {{ in_satisfaction }} AS s ON s.customer_id = a.customer_id AND s.ds = {{ day }}
