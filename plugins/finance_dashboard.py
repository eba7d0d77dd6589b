"""A link to the results dashboard (dashboard/app.py) in the Airflow UI: a menu item under "Finance" on Airflow 2,
an external view in the navigation on Airflow 3. Its address: the setting DASHBOARD_URL (include/finance/config.py;
the local stack sets it)."""

from airflow.plugins_manager import AirflowPlugin

from include.finance.config import settings
from include.finance.edition import AIRFLOW_3

LINK = {"name": "Results dashboard", "href": settings.dashboard_url}


class FinanceDashboardPlugin(AirflowPlugin):
    name = "finance_dashboard"
    if AIRFLOW_3:
        external_views = [{**LINK, "destination": "nav"}]
    else:
        appbuilder_menu_items = [{**LINK, "category": "Finance"}]
