"""Separation of duties for binding acts: an independent acceptance of residual risk (DCB0160
2.2.2) and a CSO whose professional registration has been checked recently."""

from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from nir_portal.accounts.models import CSOProfile


def _months_before(day: date, months: int) -> date:
    month_index = day.year * 12 + day.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def registration_check_due_before(today: date | None = None) -> date:
    """A registration last checked before this date is too old to sign with."""
    return _months_before(today or timezone.localdate(), settings.CSO_REGISTRATION_CHECK_MONTHS)


def registration_check_is_current(profile: CSOProfile, today: date | None = None) -> bool:
    return profile.registration_checked_on >= registration_check_due_before(today)


def registration_check_refusal(profile: CSOProfile) -> None:
    """Refuse a sign-off by a CSO whose registration check is older than the configured months,
    saying when it was checked and who can record a new check."""
    if registration_check_is_current(profile):
        return
    months = settings.CSO_REGISTRATION_CHECK_MONTHS
    raise ValidationError(
        f"Your {profile.professional_body} registration {profile.registration_number} was last checked on "
        f"{profile.registration_checked_on:%d %B %Y}, more than {months} months ago. Check it against the "
        "professional body's register and record the new check on your registration page (your deployment "
        "lead or the national admin can record it too) before you sign off.",
        code="registration_check_stale",
    )


def independent_acceptance_check(*, approver, sign_off, act: str) -> None:
    """The executive who accepts the residual risk must not be the CSO who signed the log it
    relies on: DCB0160 2.2.2 asks for top management's acceptance independent of the CSO's."""
    if sign_off.cso_id == approver.pk:
        raise ValidationError(
            f"You signed off this hazard log as its CSO, so you cannot also {act}: the residual risk must be "
            "accepted by a different executive approver.",
            code="same_person_as_cso",
        )
