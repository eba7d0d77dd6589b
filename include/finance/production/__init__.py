"""Models in production, `finance_ml` after training: its steps, each a task of the DAG (`steps`); the model
registry on MLflow and the promotion rule (`registry`); every customer's prediction (`predictions`); the champion
measured day by day (`monitoring`) with its features' drift (`drift`)."""
