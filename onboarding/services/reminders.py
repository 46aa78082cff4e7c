"""Daily mail: evidence expiring in 30 and 7 days and evidence that expired (to its owners), and
each reviewer's digest of what waits for them. The messages are queued here and sent by workers."""

from collections import defaultdict
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from nir_portal.accounts.models import LEAD_ROLES, Membership, Role
from nir_portal.mail import messages as mail
from onboarding.models import EvidenceLink
from onboarding.selectors import review_queue_for

REMINDER_DAYS = (30, 7)
OWNER_ROLES = {*LEAD_ROLES, Role.CSO, Role.SUPPLIER_CSO}
DIGEST_ROLES = (Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN, Role.CSO, Role.DEPLOYMENT_LEAD)
DIGEST_MAX_ITEMS = 50


@transaction.atomic
def reminders_send(*, expired_link_ids: list[int], today=None) -> int:
    """Queue one reminder per owning organisation; returns how many messages were queued."""
    today = today or timezone.localdate()
    due_dates = [today + timedelta(days=days) for days in REMINDER_DAYS]
    links = list(
        EvidenceLink.objects.filter(
            Q(status=EvidenceLink.Status.ACCEPTED, revision__expiry_date__in=due_dates) | Q(pk__in=expired_link_ids)
        )
        .select_related("evidence__owner", "deployment", "revision")
        .order_by("evidence__owner_id", "deployment__name", "pk")
    )
    by_owner: dict[int, list[EvidenceLink]] = defaultdict(list)
    for link in links:
        by_owner[link.evidence.owner_id].append(link)
    return sum(
        len(mail.expiry_reminder(owner_id=owner_id, roles=OWNER_ROLES, links=owned, today=today))
        for owner_id, owned in by_owner.items()
    )


@transaction.atomic
def reviewer_digests_send() -> int:
    """Queue a digest for every active reviewer with something waiting; returns how many were queued."""
    reviewers = (
        get_user_model()
        .objects.filter(is_active=True, pk__in=Membership.objects.filter(role__in=DIGEST_ROLES).values("user_id"))
        .order_by("pk")
    )
    queued = 0
    for user in reviewers:
        waiting = list(review_queue_for(user)[:DIGEST_MAX_ITEMS])
        if waiting:
            queued += len(mail.reviewer_digest(user=user, links=waiting))
    return queued
