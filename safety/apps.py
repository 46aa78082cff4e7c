from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = "Clinical safety"

    def ready(self) -> None:
        from safety import receivers  # noqa: F401  (listens to the certificate register)
