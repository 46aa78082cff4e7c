import time

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.flows.login import get_authentication_records
from allauth.core import context
from allauth.mfa.models import Authenticator
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from nir_portal.accounts import enrolment
from nir_portal.client_ip import client_ip


class AccountAdapter(DefaultAccountAdapter):
    """Accounts are created by invitation only; nobody signs themselves up."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def get_client_ip(self, request) -> str:
        # Sign-in rate limits key on this: the same address the audit trail records.
        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine the client's address.")
        return ip

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # Setting up a first authenticator with an enrolment grant (which the link or the invitation
        # gave) needs no second proof; asking for one is a dead end (403) for a CIS2 user, who has
        # no password or authenticator to give.
        if app == "allauth.mfa" and (_may_enrol_now(context.request) or _enrolled_just_now(context.request)):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)


def _may_enrol_now(request) -> bool:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or enrolment.has_authenticator(user):
        return False
    return enrolment.has_grant(request)


def _enrolled_just_now(request) -> bool:
    """The first authenticator was added in this session moments ago (activating it proved a
    fresh code), so its recovery codes are shown without asking for the password again."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    window = settings.ACCOUNT_REAUTHENTICATION_TIMEOUT
    authenticators = list(
        Authenticator.objects.filter(user=user, type__in=enrolment.SECOND_FACTORS).values_list("created_at", flat=True)
    )
    if len(authenticators) != 1 or (timezone.now() - authenticators[0]).total_seconds() > window:
        return False
    # Set up in this session: with a grant given here, or moments after signing in.
    return enrolment.grant_was_given(request) or any(
        time.time() - record.get("at", 0) <= window for record in get_authentication_records(request, user)
    )


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """NHS CIS2 signs in people who already hold an account (matched by verified email)."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        return False
