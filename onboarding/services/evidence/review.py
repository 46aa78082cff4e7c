"""Reviewing evidence shared with a deployment, and commenting on it."""

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from nir_portal.accounts import permissions as account_permissions
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages as mail
from nir_portal.permissions import RoleRequired
from onboarding import permissions, selectors
from onboarding.models import (
    EvidenceComment,
    EvidenceLink,
    Review,
)
from onboarding.permissions import can_review
from onboarding.services.evidence.rules import _evidence_changed
from onboarding.services.pars import pars_acceptance_problem


def evidence_review(*, actor, link: EvidenceLink, decision: str, comment: str, expected_version: int) -> Review:
    # The refusal is audited outside the decision's transaction: raising inside it would roll the
    # denial's audit row back. Who may review depends only on fields a link never changes.
    current = EvidenceLink.objects.select_related("evidence", "deployment").get(pk=link.pk)
    if not can_review(actor, current):
        audit_event_record(action="evidence.review", actor=actor, target=current, outcome=AuditEvent.Outcome.DENIED)
        raise RoleRequired(permissions.review_rule(current), current)
    return _evidence_review_record(
        actor=actor, link=current, decision=decision, comment=comment, expected_version=expected_version
    )


@transaction.atomic
def _evidence_review_record(*, actor, link: EvidenceLink, decision: str, comment: str, expected_version: int) -> Review:
    # Row lock: two reviewers deciding at once must not both record a decision on one revision.
    # Only the link row: PostgreSQL cannot lock the nullable side of the outer join to revision.
    link = (
        EvidenceLink.objects.select_for_update(of=("self",))
        .select_related("evidence", "deployment__organisation", "revision")
        .get(pk=link.pk)
    )
    if link.version != expected_version:
        raise ValidationError(
            "The evidence changed after you opened it (a new revision or another decision). "
            "Nothing was recorded: review the latest version.",
            code="stale_review",
        )
    revision = link.revision
    if link.status != EvidenceLink.Status.SUBMITTED or revision is None:
        raise ValidationError("Only evidence waiting for review can be reviewed.", code="not_submitted")
    if decision not in Review.Decision.values:
        raise refused("decision", "Choose accept or request changes.", "invalid_decision")
    comment = comment.strip()
    if decision == Review.Decision.REQUEST_CHANGES and not comment:
        raise refused("comment", "Say what needs to change.", "comment_required")
    if decision == Review.Decision.ACCEPT:
        if not selectors.revision_files_cleared(revision):
            raise ValidationError(selectors.FILES_NOT_CLEARED, code="files_not_clean")
        pars_problem = pars_acceptance_problem(link=link, revision=revision)
        if pars_problem is not None:
            raise pars_problem
    organisation = next(
        (
            m.organisation
            for m in account_permissions.memberships_of(actor)
            if m.organisation_id == link.deployment.organisation_id or m.organisation.is_national
        ),
        None,
    )
    review = Review(
        link=link,
        revision=revision,
        reviewer=actor,
        reviewer_organisation=organisation,
        decision=decision,
        comment=comment,
    )
    review.full_clean()
    review.save()
    link.status = (
        EvidenceLink.Status.ACCEPTED if decision == Review.Decision.ACCEPT else EvidenceLink.Status.CHANGES_REQUESTED
    )
    link.status_changed_at = timezone.now()
    link.version += 1
    link.save(update_fields=["status", "status_changed_at", "version"])
    if comment:
        # The review's organisation: full_clean above refused a review without one.
        EvidenceComment.objects.create(link=link, author=actor, organisation=review.reviewer_organisation, text=comment)
    _evidence_changed([link.deployment_id])
    audit_event_record(
        action="evidence.review",
        actor=actor,
        organisation=organisation,
        target=link,
        changes={"decision": decision, "revision": revision.number, "deployment": link.deployment_id},
    )
    mail.evidence_reviewed(review=review)
    return review


@transaction.atomic
def evidence_comment_add(*, actor, link: EvidenceLink, text: str) -> EvidenceComment:
    link = EvidenceLink.objects.select_related("evidence", "deployment").get(pk=link.pk)
    organisation = next(
        (
            m.organisation
            for m in account_permissions.memberships_of(actor)
            if m.organisation_id in (link.evidence.owner_id, link.deployment.organisation_id)
            or m.organisation.is_national
        ),
        None,
    )
    if organisation is None:
        raise PermissionDenied("You cannot comment on this evidence.")
    comment = EvidenceComment(link=link, author=actor, organisation=organisation, text=text.strip())
    if not comment.text:
        raise refused("text", "Enter a comment.", "empty_comment")
    comment.full_clean()
    comment.save()
    audit_event_record(
        action="evidence.comment",
        actor=actor,
        organisation=organisation,
        target=link,
        changes={"comment_id": comment.pk},
    )
    return comment
