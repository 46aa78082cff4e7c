"""Fresh authenticator checks for actions that bind a person to a safety decision.

One guard, in two halves (docs/security.md lists the actions that use it):

- In the service: `require_recent_mfa(mfa_verified_at=...)` refuses with the stable code
  `reauthentication_required` when the person's last authenticator check is older than
  REAUTHENTICATION_SECONDS. The service is the enforcement; a view's check is only the courtesy.
- In the view: `RecentMFARequiredMixin` sends a stale session to allauth's re-authentication before
  the service is called, keeps what the person typed in the session under the form's URL, and puts
  it back into the form when they return. The POST is never replayed: the person confirms again.
"""

import time
from functools import wraps
from urllib.parse import urlencode

from allauth.account.internal.flows.login import get_authentication_records
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse

from nir_portal.forms import add_service_errors

REAUTHENTICATION_REQUIRED = "reauthentication_required"
DRAFTS_SESSION_KEY = "reauth_form_drafts"
# Bounds on what a stale POST may leave in the session: a few forms, no field longer than any form
# here accepts, and never the CSRF token.
DRAFTS_KEPT = 5
DRAFT_VALUE_MAX_CHARS = 20_000
DRAFT_FIELDS_MAX = 100
DRAFT_EXCLUDED_FIELDS = frozenset({"csrfmiddlewaretoken"})
# A check dated later than now (a clock step, or a forged value) is not taken as fresh.
CLOCK_SKEW_SECONDS = 5


def window_seconds() -> int:
    return settings.ACCOUNT_REAUTHENTICATION_TIMEOUT


def last_mfa_at(request) -> float | None:
    """When the person last completed an authenticator check in this session (epoch seconds)."""
    # allauth's reader ignores records left in the session by a different user.
    records = get_authentication_records(request, request.user)
    times = [r.get("at", 0) for r in records if r.get("method") == "mfa"]
    return max(times) if times else None


def is_fresh(mfa_verified_at: float | None, within_seconds: int | None = None) -> bool:
    window = window_seconds() if within_seconds is None else within_seconds
    if mfa_verified_at is None:
        return False
    age = time.time() - mfa_verified_at
    return -CLOCK_SKEW_SECONDS <= age <= window


def has_recent_mfa(request, within_seconds: int | None = None) -> bool:
    """True when the person completed an MFA check in this session within the window
    (REAUTHENTICATION_SECONDS, five minutes by default)."""
    return is_fresh(last_mfa_at(request), within_seconds)


def require_recent_mfa(*, mfa_verified_at: float | None, action: str) -> None:
    """The service half of the guard: call it in every service that binds a person, after the
    permission check and before anything is written. `mfa_verified_at` is `last_mfa_at(request)`
    as the view passes it; `action` says what is being confirmed, in the person's words."""
    if not is_fresh(mfa_verified_at):
        minutes = max(1, window_seconds() // 60)
        raise ValidationError(
            f"Confirm it is you with a code from your authenticator app before you {action} "
            f"(a code entered within the last {minutes} minutes is needed).",
            code=REAUTHENTICATION_REQUIRED,
        )


def is_reauthentication_refusal(error: ValidationError) -> bool:
    """True when a service refused only because the authenticator check was stale."""
    return REAUTHENTICATION_REQUIRED in {e.code for e in error.error_list} if hasattr(error, "error_list") else False


def reauthenticate_url(next_url: str) -> str:
    return f"{reverse('mfa_reauthenticate')}?{urlencode({'next': next_url})}"


# --- What the person typed, kept across the detour ----------------------------------------------------


def form_draft_keep(request, *, form_path: str) -> None:
    """Keep the POSTed fields (not files, not the CSRF token) for the form at `form_path`."""
    data = {}
    for name, values in request.POST.lists():
        if name in DRAFT_EXCLUDED_FIELDS or len(data) >= DRAFT_FIELDS_MAX:
            continue
        data[name[:200]] = [str(value)[:DRAFT_VALUE_MAX_CHARS] for value in values[:50]]
    drafts = request.session.get(DRAFTS_SESSION_KEY)
    drafts = {k: v for k, v in drafts.items() if k != form_path} if isinstance(drafts, dict) else {}
    drafts[form_path] = {"user": str(request.user.pk), "data": data}
    # Oldest first in insertion order: keep only the latest few.
    request.session[DRAFTS_SESSION_KEY] = dict(list(drafts.items())[-DRAFTS_KEPT:])


def form_draft_take(request, *, form_path: str) -> dict:
    """The kept fields of the form at `form_path`, as a form's initial data; removed once taken."""
    drafts = request.session.get(DRAFTS_SESSION_KEY)
    if not isinstance(drafts, dict) or form_path not in drafts:
        return {}
    draft = drafts.pop(form_path)
    request.session[DRAFTS_SESSION_KEY] = drafts
    if not isinstance(draft, dict) or draft.get("user") != str(request.user.pk):
        return {}
    data = draft.get("data") or {}
    initial = {name: values[0] if len(values) == 1 else values for name, values in data.items() if values}
    # A date typed into three boxes (name_day, name_month, name_year) is the field `name`'s initial.
    for name in [n.removesuffix("_day") for n in initial if n.endswith("_day")]:
        parts = [initial.get(f"{name}_{part}") for part in ("day", "month", "year")]
        if all(isinstance(part, str) for part in parts):
            initial[name] = parts
    return initial


def send_to_reauthenticate(request, *, form_path: str | None = None):
    """Keep the typed form, say why, and send the person to enter an authenticator code; they come
    back to the form at `form_path` (the request's own path by default)."""
    form_path = form_path or request.path
    if request.method == "POST":
        form_draft_keep(request, form_path=form_path)
        messages.info(
            request,
            "Enter a code from your authenticator app to confirm it is you. "
            "What you typed has been kept: check it and confirm again.",
            fail_silently=True,
        )
    return redirect(reauthenticate_url(form_path))


class RecentMFARequiredMixin:
    """For a view whose POST binds the person. It checks in `dispatch`, so refuse people who may not
    act in the view's own `dispatch` (or a mixin listed before this one) before calling `super()`:
    they get that refusal (a 404), not a detour. A form view gets what was typed back as its
    initial data when the person returns.

    `reauth_form_path()` names the page the form lives on, when the POST goes elsewhere."""

    def reauth_form_path(self) -> str:
        return self.request.path

    def dispatch(self, request, *args, **kwargs):
        if request.method == "POST" and not has_recent_mfa(request):
            return send_to_reauthenticate(request, form_path=self.reauth_form_path())
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "reauth_guarded": True,
            "has_recent_mfa": has_recent_mfa(self.request),
        }

    def get_initial(self):
        initial = super().get_initial()
        if self.request.method == "GET":
            initial = {**initial, **form_draft_take(self.request, form_path=self.reauth_form_path())}
        return initial

    def form_invalid_or_reauthenticate(self, form, error: ValidationError):
        """For `form_valid`: when the service refused only because the window closed between the
        view's check and the service's (seconds), take the detour rather than show an error."""
        if is_reauthentication_refusal(error):
            return send_to_reauthenticate(self.request, form_path=self.reauth_form_path())
        add_service_errors(form, error)
        return self.form_invalid(form)


def recent_mfa_required(view):
    """Function-view form of the guard: a stale session is sent to enter an authenticator code, with
    what it POSTed kept for the form at the request's path."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not has_recent_mfa(request):
            return send_to_reauthenticate(request)
        return view(request, *args, **kwargs)

    return wrapper
