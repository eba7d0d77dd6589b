-- model_satisfaction, every day of it: the customer, the survey's columns as the contract types them
-- (nullable) and the target.
CREATE TABLE IF NOT EXISTS {table} ({columns}, ds date NOT NULL, PRIMARY KEY (ds, {key}))
