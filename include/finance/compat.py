"""The few names the shared core takes from Airflow that moved in Airflow 3 (to the Task SDK, `airflow.sdk`):
imported from there on Airflow 3, from their Airflow 2 home otherwise, so the core runs on both editions
without deprecation warnings."""

try:  # Airflow 3
    from airflow.sdk import BaseHook, get_current_context
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowException, AirflowFailException
    from airflow.hooks.base import BaseHook
    from airflow.operators.python import get_current_context

__all__ = ["AirflowException", "AirflowFailException", "BaseHook", "get_current_context"]
