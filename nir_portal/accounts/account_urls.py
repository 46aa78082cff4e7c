"""The portal's own pages under /accounts/, included before allauth's URLs so the set-password link
is answered here (nir_portal/accounts/enrolment_views.py)."""

from django.urls import path, re_path

from nir_portal.accounts import enrolment_views

urlpatterns = [
    path("enrolment/", enrolment_views.EnrolmentNeededView.as_view(), name="enrolment_needed"),
    path("enrolment/<str:token>/", enrolment_views.EnrolmentLinkView.as_view(), name="enrolment_link"),
    re_path(
        r"^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
        enrolment_views.password_set_from_link,
        name="account_reset_password_from_key",
    ),
]
