"""Daily emails: evidence expiring in 30 and 7 days, evidence that expired, and reviewers' digests."""

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from nir_portal.accounts.models import LEAD_ROLES, Membership, Role
from onboarding.models import EvidenceLink
from onboarding.selectors import review_queue_for

REMINDER_DAYS = (30, 7)
OWNER_ROLES = {*LEAD_ROLES, Role.CSO, Role.SUPPLIER_CSO}


def _owner_emails(organisation_ids: set[int]) -> dict[int, list[str]]:
    emails: dict[int, list[str]] = defaultdict(list)
    for membership in Membership.objects.filter(
        organisation__in=organisation_ids, role__in=OWNER_ROLES, user__is_active=True
    ).select_related("user"):
        emails[membership.organisation_id].append(membership.user.email)
    return emails


def reminders_send(*, expired_link_ids: list[int], today=None) -> int:
    today = today or timezone.localdate()
    due_dates = [today + timedelta(days=days) for days in REMINDER_DAYS]
    links = list(
        EvidenceLink.objects.filter(
            Q(status=EvidenceLink.Status.ACCEPTED, revision__expiry_date__in=due_dates) | Q(pk__in=expired_link_ids)
        ).select_related("evidence__owner", "deployment", "revision")
    )
    by_owner: dict[int, list[EvidenceLink]] = defaultdict(list)
    for link in links:
        by_owner[link.evidence.owner_id].append(link)
    recipients = _owner_emails(set(by_owner))
    sent = 0
    for owner_id, owner_links in by_owner.items():
        if not recipients.get(owner_id):
            continue
        body = render_to_string(
            "onboarding/email/expiry_reminder.txt",
            {"links": owner_links, "today": today, "site_url": settings.SITE_URL},
        )
        send_mail("Evidence expiring on the NIR onboarding portal", body, None, recipients[owner_id])
        sent += 1
    sent += _send_reviewer_digests()
    return sent


def _send_reviewer_digests() -> int:
    reviewers = (
        Membership.objects.filter(
            role__in=[Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN, Role.CSO, Role.DEPLOYMENT_LEAD],
            user__is_active=True,
        )
        .select_related("user")
        .order_by("user_id")
    )
    sent = 0
    seen: set[int] = set()
    for membership in reviewers:
        user = membership.user
        if user.pk in seen:
            continue
        seen.add(user.pk)
        waiting = list(review_queue_for(user)[:50])
        if not waiting:
            continue
        body = render_to_string(
            "onboarding/email/review_digest.txt", {"links": waiting, "user": user, "site_url": settings.SITE_URL}
        )
        send_mail(f"{len(waiting)} evidence item(s) wait for your review", body, None, [user.email])
        sent += 1
    return sent
