from django.urls import path

from nir_portal.accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.OrganisationListView.as_view(), name="organisation-list"),
    path("new/", views.OrganisationCreateView.as_view(), name="organisation-create"),
    path("<int:pk>/", views.OrganisationDetailView.as_view(), name="organisation-detail"),
    path("<int:pk>/invite/", views.MemberInviteView.as_view(), name="member-invite"),
    path("memberships/<int:pk>/role/", views.MembershipRoleChangeView.as_view(), name="membership-role"),
    path("memberships/<int:pk>/remove/", views.MembershipRemoveView.as_view(), name="membership-remove"),
    path(
        "memberships/<int:pk>/resend-invitation/",
        views.MembershipInvitationResendView.as_view(),
        name="membership-invitation-resend",
    ),
    path(
        "memberships/<int:pk>/reset-authenticator/",
        views.MembershipAuthenticatorResetView.as_view(),
        name="membership-authenticator-reset",
    ),
    path("active/", views.ActiveOrganisationView.as_view(), name="active-organisation"),
    path("cso-profile/", views.CSOProfileView.as_view(), name="cso-profile"),
]
