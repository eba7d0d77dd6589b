{# The day's customers the models use: all of them, or a fixed pseudo-random sample of max_rows. #}
SELECT
    customer_id,
    customer_satisfaction_speed,
    customer_satisfaction_product,
    customer_satisfaction_service,
    product_type,
    avg_amount_captured,
    count(*) OVER () AS table_rows
FROM {{ model_satisfaction }}
WHERE ds = {{ day }}
ORDER BY md5(customer_id)
LIMIT {{ max_rows }}
