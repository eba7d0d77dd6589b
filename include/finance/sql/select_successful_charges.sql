{# The logical date's charges that went through (succeeded and paid) in the model's currency, with a
   plausible captured amount: averaging dollars with yen, or with a unit error, would make no sense. #}
SELECT *
FROM {{ in_charge }}
WHERE ds = {{ day }} AND status = 'succeeded' AND paid
    AND currency = {{ currency }} AND amount_captured <= {{ max_amount }}
