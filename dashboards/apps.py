from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "dashboards"
    verbose_name = "Dashboards"

    def ready(self) -> None:
        # Imported here, not at the top: the subscribers import models, which need the app registry.
        from dashboards import subscribers

        subscribers.connect()
