from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = "Clinical safety"

    def ready(self) -> None:
        # Imported here, not at the top: the subscribers import models, which need the app registry.
        from safety import subscribers

        subscribers.connect()
