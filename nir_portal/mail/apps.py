from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "nir_portal.mail"
    label = "mail"
    verbose_name = "Outgoing mail"
    default_auto_field = "django.db.models.BigAutoField"
