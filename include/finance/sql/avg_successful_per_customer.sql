{# The target of the models: the average captured amount (cents) per customer. #}
SELECT customer_id, AVG(amount_captured)::double precision AS avg_amount_captured
FROM {{ successful_charges }}
GROUP BY customer_id
