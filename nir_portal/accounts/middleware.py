from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from nir_portal.accounts import enrolment, permissions

# Paths a signed-in person without an authenticator may always reach: the page that tells them to
# use their enrolment link (and sends a new one), the link itself, the set-password link, sign-out,
# and assets.
ENROLMENT_ALWAYS_OPEN_PREFIXES = (
    "/accounts/enrolment/",
    "/accounts/password/reset/key/",
    "/accounts/logout/",
    "/static/",
    "/assets/",
    "/healthz",
)
# And, only with an enrolment grant (nir_portal/accounts/enrolment.py): the set-up pages, and the
# password check allauth may ask for before adding an authenticator (without it, a loop).
ENROLMENT_GRANTED_PREFIXES = ("/accounts/2fa/", "/accounts/reauthenticate/")


class MFARequiredMiddleware:
    """Every signed-in person must have TOTP or a passkey before using the portal, and may set one
    up only with an enrolment grant: a password alone leads to the page asking them to use the
    link sent to their email address."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.path.startswith(ENROLMENT_ALWAYS_OPEN_PREFIXES)
            and not enrolment.has_authenticator(user)
        ):
            if not enrolment.has_grant(request):
                return redirect("enrolment_needed")
            if not request.path.startswith(ENROLMENT_GRANTED_PREFIXES):
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
