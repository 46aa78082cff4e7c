"""allauth's own addresses and names for the pages in mfa_views; included before allauth's URLs,
so these answer them."""

from django.urls import path

from nir_portal.accounts import mfa_views

urlpatterns = [
    path("totp/activate/", mfa_views.AuthenticatorAppSetUpView.as_view(), name="mfa_activate_totp"),
    path("webauthn/add/", mfa_views.SecurityKeyAddView.as_view(), name="mfa_add_webauthn"),
    path("recovery-codes/", mfa_views.RecoveryCodesView.as_view(), name="mfa_view_recovery_codes"),
]
