from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "nir_portal.accounts"
    label = "accounts"
    verbose_name = "People and organisations"
