"""Who may set up a first authenticator, and when (docs/security.md, "Setting up a first authenticator").

A password alone never opens the set-up pages: someone who has stolen a password must not be able to
bind their own authenticator to an account that has none yet. The set-up pages open only to a session
holding an enrolment grant for the signed-in person. A grant is given, for GRANT_SECONDS, when the
person:

- sets their password from the invitation's link (or any password-reset link: both prove that they
  read the account's verified email address), or
- opens an enrolment link sent to that address (EnrolmentLink), or
- signs in through NHS CIS2, whose smartcard sign-in is itself a strong proof of identity.

This module reads and writes the grant in the session and signs the links; the services write the rows.
"""

import time

from allauth.account.internal.flows.login import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts.models import EnrolmentLink

GRANT_SESSION_KEY = "enrolment_grant"
GRANT_SECONDS = 30 * 60
LINK_VALID_SECONDS = 24 * 60 * 60
# A person asking for links themself gets at most one in this time; asking again changes nothing.
LINK_REQUEST_INTERVAL_SECONDS = 5 * 60
LINK_SALT = "nir_portal.accounts.enrolment_link"
# Authenticators that count as a second factor (recovery codes come with them, never alone).
SECOND_FACTORS = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def has_authenticator(user) -> bool:
    return Authenticator.objects.filter(user=user, type__in=SECOND_FACTORS).exists()


# --- The grant, in the session ------------------------------------------------------------------------


def grant_give(request, *, user, via: str) -> None:
    """Let this session set up a first authenticator for `user` for the next GRANT_SECONDS."""
    request.session[GRANT_SESSION_KEY] = {"user": str(user.pk), "until": time.time() + GRANT_SECONDS, "via": via}


def grant_revoke(request) -> None:
    request.session.pop(GRANT_SESSION_KEY, None)


def _signed_in_through_cis2_within(request, seconds: float) -> bool:
    records = get_authentication_records(request, request.user)
    return any(r.get("method") == "socialaccount" and time.time() - r.get("at", 0) <= seconds for r in records)


def has_grant(request) -> bool:
    """Whether the signed-in person may set up an authenticator in this session now."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    return grant_was_given(request) or _signed_in_through_cis2_within(request, GRANT_SECONDS)


# --- Enrolment links ----------------------------------------------------------------------------------


def link_token(link) -> str:
    return signing.dumps({"link": link.pk, "user": link.user_id}, salt=LINK_SALT, compress=False)


def link_token_read(token: str) -> tuple[int, int] | None:
    """The (link id, user id) a token names, or None when it was not made by this portal or is too old."""
    try:
        payload = signing.loads(token, salt=LINK_SALT, max_age=LINK_VALID_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("link"), int):
        return None
    if not isinstance(payload.get("user"), int):
        return None
    return payload["link"], payload["user"]


def link_path(link) -> str:
    return reverse("enrolment_link", kwargs={"token": link_token(link)})


def link_url(link) -> str:
    return settings.SITE_URL.rstrip("/") + link_path(link)


# Why a link cannot be used, in the person's words; the keys are the refusals' codes.
LINK_PROBLEMS = {
    "invalid": "This link is not valid. Check that you copied the whole link from the email.",
    "expired": "This link has expired.",
    "used": "This link has already been used, or a newer link has been sent since.",
    "enrolled": "An authenticator has already been set up for this account.",
    "other_user": "This link is for a different account from the one signed in on this device.",
}


def link_find(token: str, *, for_update: bool = False):
    """The EnrolmentLink a token names (with its user), or None."""
    named = link_token_read(token)
    if named is None:
        return None
    links = EnrolmentLink.objects.select_related("user")
    if for_update:
        links = links.select_for_update(of=("self",))
    return links.filter(pk=named[0], user_id=named[1]).first()


def link_problem(link, *, signed_in_user) -> str | None:
    """Why `link` cannot be used by whoever is on this device (None: it can)."""
    if link is None or not link.user.is_active:
        return "invalid"
    if signed_in_user is not None and signed_in_user.is_authenticated and signed_in_user.pk != link.user_id:
        return "other_user"
    if link.used_at is not None or link.revoked_at is not None:
        return "used"
    if link.expires_at <= timezone.now():
        return "expired"
    if has_authenticator(link.user):
        return "enrolled"
    return None


def grant_was_given(request) -> bool:
    """Whether this session holds an unexpired grant for the signed-in person (whether or not they
    have since set up an authenticator)."""
    grant = request.session.get(GRANT_SESSION_KEY)
    user = getattr(request, "user", None)
    return (
        user is not None
        and user.is_authenticated
        and isinstance(grant, dict)
        and grant.get("user") == str(user.pk)
        and isinstance(grant.get("until"), int | float)
        and time.time() < grant["until"]
    )
