from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "nir_portal.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from nir_portal.audit import receivers  # noqa: F401  (connects the sign-in receivers)
