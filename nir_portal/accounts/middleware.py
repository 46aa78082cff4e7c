from urllib.parse import urlencode

from allauth.mfa.models import Authenticator
from django.shortcuts import redirect
from django.urls import reverse

from nir_portal.accounts import permissions

# Paths a signed-in person without MFA may still reach: enrolment itself, the password check
# allauth demands before adding an authenticator (without it enrolment loops), sign-out, and assets.
MFA_ENROLMENT_OPEN_PREFIXES = (
    "/accounts/2fa/",
    "/accounts/reauthenticate/",
    "/accounts/logout/",
    "/static/",
    "/assets/",
    "/healthz",
)


class MFARequiredMiddleware:
    """Every signed-in person must have TOTP or a passkey before using the portal."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and not request.path.startswith(MFA_ENROLMENT_OPEN_PREFIXES):
            enrolled = Authenticator.objects.filter(
                user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
            ).exists()
            if not enrolled:
                return redirect(f"{reverse('mfa_activate_totp')}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)


class ActiveOrganisationMiddleware:
    """Sets request.active_membership_roles and request.active_organisation from the session,
    falling back to the person's first organisation when the stored one is no longer theirs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.active_organisation = None
        request.active_roles = frozenset()
        if request.user.is_authenticated:
            memberships = permissions.memberships_of(request.user)
            wanted = request.session.get("active_organisation_id")
            chosen = next((m for m in memberships if m.organisation_id == wanted), None)
            if chosen is None and memberships:
                chosen = memberships[0]
                request.session["active_organisation_id"] = chosen.organisation_id
            if chosen is not None:
                request.active_organisation = chosen.organisation
                request.active_roles = frozenset(
                    m.role for m in memberships if m.organisation_id == chosen.organisation_id
                )
        return self.get_response(request)
