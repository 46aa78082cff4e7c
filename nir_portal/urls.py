from allauth.account.decorators import secure_admin_login
from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from nir_portal import health, views

admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "NIR onboarding portal administration"

urlpatterns = [
    path("", include("onboarding.home_urls")),
    path("healthz", health.healthz, name="healthz"),
    path("accessibility/", views.AccessibilityStatementView.as_view(), name="accessibility-statement"),
    path("accounts/2fa/", include("nir_portal.accounts.mfa_urls")),
    path("accounts/", include("nir_portal.accounts.account_urls")),
    path("accounts/", include("allauth.urls")),
    path("organisations/", include("nir_portal.accounts.urls")),
    path("audit/", include("nir_portal.audit.urls")),
    path("", include("onboarding.urls")),
    path("", include("certificates.urls")),
    path("", include("safety.urls")),
    path("", include("safety.cscr_urls")),
    path("", include("dashboards.urls")),
    path(settings.ADMIN_URL, admin.site.urls),
]

handler403 = "nir_portal.views.permission_denied"
handler500 = "nir_portal.views.server_error"
