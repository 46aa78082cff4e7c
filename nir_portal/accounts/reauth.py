"""Recent-MFA checks for actions that bind a person, such as a CSO's sign-off."""

import time
from functools import wraps
from urllib.parse import urlencode

from allauth.account.internal.flows.login import get_authentication_records
from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse


def last_mfa_at(request) -> float | None:
    # allauth's reader ignores records left in the session by a different user.
    records = get_authentication_records(request, request.user)
    times = [r.get("at", 0) for r in records if r.get("method") == "mfa"]
    return max(times) if times else None


def has_recent_mfa(request, within_seconds: int | None = None) -> bool:
    """True when the person completed an MFA check in this session within the window
    (ACCOUNT_REAUTHENTICATION_TIMEOUT, five minutes by default)."""
    window = within_seconds if within_seconds is not None else settings.ACCOUNT_REAUTHENTICATION_TIMEOUT
    at = last_mfa_at(request)
    return at is not None and time.time() - at <= window


def reauthenticate_url(next_url: str) -> str:
    return f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}"


def recent_mfa_required(view):
    """Send the person to re-enter an MFA code when their last one is older than the window."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not has_recent_mfa(request):
            return redirect(reauthenticate_url(request.get_full_path()))
        return view(request, *args, **kwargs)

    return wrapper
