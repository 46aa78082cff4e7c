"""Evidence: creating and revising it, sharing it with deployments, reviewing it, its files'
malware scans, expiry, and carrying it forward to a new product version."""

import calendar
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts import permissions as account_permissions
from nir_portal.accounts.models import Organisation
from nir_portal.audit.models import AuditEvent
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages as mail
from nir_portal.permissions import RoleRequired
from nir_portal.task_registry import registered_task
from onboarding import permissions, selectors
from onboarding.events import DeploymentEvidenceChanged, EvidenceRevised
from onboarding.models import (
    Deployment,
    Evidence,
    EvidenceComment,
    EvidenceFile,
    EvidenceLink,
    EvidenceRevision,
    ProductVersion,
    Requirement,
    Review,
)
from onboarding.models.evidence import STATEMENT_MAX_LENGTH
from onboarding.permissions import can_review
from onboarding.services.framework import framework_current
from onboarding.services.pars import pars_acceptance_problem, pars_check_enqueue

# Registered by onboarding.tasks under this name; enqueued by name (see nir_portal.task_registry).
EVIDENCE_FILE_SCAN = "onboarding.tasks.evidence_file_scan"

REVIEW_PRIORITY = [
    EvidenceLink.ReviewBy.NATIONAL,
    EvidenceLink.ReviewBy.DEPLOYING_CSO,
    EvidenceLink.ReviewBy.DEPLOYING_LEAD,
]


@dataclass(frozen=True)
class StoredUpload:
    """A file already inspected and written to evidence storage (see onboarding.uploads)."""

    original_name: str
    storage_name: str
    sha256: str
    size: int
    detected_type: str


# --- rules --------------------------------------------------------------------------------------


def _evidence_changed(deployment_ids) -> None:
    """Tell the apps above (the dashboards' summaries) in this transaction; ids may repeat."""
    ids = tuple(sorted({int(pk) for pk in deployment_ids}))
    if ids:
        events.publish(DeploymentEvidenceChanged(deployment_ids=ids))


def _requirements_for(codes: list[str], framework) -> dict[str, Requirement]:
    if framework is None:
        raise ValidationError("No onboarding framework is published yet.", code="no_framework")
    found = {r.code: r for r in Requirement.objects.filter(framework=framework, code__in=codes)}
    missing = sorted(set(codes) - set(found))
    if missing:
        raise refused("requirement_codes", f"Unknown requirement: {', '.join(missing)}.", "unknown_requirement")
    return found


def _check_provider(requirements: dict[str, Requirement], owner: Organisation) -> None:
    wanted = Requirement.ProvidedBy.SUPPLIER if owner.is_supplier else Requirement.ProvidedBy.DEPLOYING
    allowed = (wanted, Requirement.ProvidedBy.BOTH)
    wrong = sorted(code for code, r in requirements.items() if r.provided_by not in allowed)
    if wrong:
        who = "suppliers" if wanted == Requirement.ProvidedBy.DEPLOYING else "deploying organisations"
        raise refused("requirement_codes", f"{', '.join(wrong)} must be evidenced by {who}.", "wrong_provider")


def review_by_for(requirements: list[Requirement], owner: Organisation) -> str:
    """Who reviews evidence for these requirements. Nobody reviews their own organisation's
    evidence, so evidence owned by the deploying organisation goes to the national team."""
    wanted = {r.reviewed_by for r in requirements}
    if owner.is_deploying:
        return EvidenceLink.ReviewBy.NATIONAL
    return next(kind for kind in REVIEW_PRIORITY if kind in wanted)


def _end_of_dspt_year(effective: date) -> date:
    # The DSPT year runs from 1 July to 30 June. A publication dated 30 June (the deadline) is for
    # the year that follows; otherwise it would expire on the day it takes effect.
    return date(effective.year + (1 if (effective.month, effective.day) >= (6, 30) else 0), 6, 30)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def expiry_date_for(requirements: list[Requirement], effective: date) -> date | None:
    """The earliest expiry any of the requirements imposes, or None when none expires."""
    dates = []
    for requirement in requirements:
        if requirement.expiry_rule == Requirement.ExpiryRule.MONTHS:
            dates.append(_add_months(effective, requirement.expiry_months))
        elif requirement.expiry_rule == Requirement.ExpiryRule.DSPT_YEAR:
            dates.append(_end_of_dspt_year(effective))
    return min(dates) if dates else None


def _check_can_contribute(
    actor, owner: Organisation, *, deployment: Deployment | None, product_version: ProductVersion | None
) -> None:
    if deployment is not None:
        permissions.CONTRIBUTE_EVIDENCE.require(actor, deployment)
        if not permissions.can_contribute_as(actor, owner, deployment):
            raise PermissionDenied("You cannot add evidence to this deployment for that organisation.")
    else:
        permissions.CONTRIBUTE_VERSION_EVIDENCE.require(actor, product_version)
        if owner.pk != product_version.product.supplier_id:
            raise PermissionDenied("Only the product's supplier can add evidence for a product version.")


def _check_owner_member(actor, evidence: Evidence) -> None:
    permissions.CHANGE_EVIDENCE.require(actor, evidence)


def _framework_of(evidence_deployment: Deployment | None):
    if evidence_deployment is not None and evidence_deployment.framework_id:
        return evidence_deployment.framework
    return framework_current()


# --- evidence -----------------------------------------------------------------------------------


def _add_revision(
    *,
    evidence: Evidence,
    actor,
    statement: str,
    effective_date: date,
    files: list[StoredUpload],
    requirements: list[Requirement],
    number: int,
) -> EvidenceRevision:
    statement = statement.strip()
    if not statement and not files:
        raise refused("statement", "Enter a statement, attach a file, or both.", "empty_evidence")
    if len(statement) > STATEMENT_MAX_LENGTH:
        raise refused(
            "statement",
            f"The statement can be at most {STATEMENT_MAX_LENGTH:,} characters; it has {len(statement):,}.",
            "statement_too_long",
        )
    revision = EvidenceRevision(
        evidence=evidence,
        number=number,
        statement=statement,
        effective_date=effective_date,
        expiry_date=expiry_date_for(requirements, effective_date),
        uploaded_by=actor,
    )
    # The statement is checked above: it may be blank when a file carries the evidence.
    revision.full_clean(exclude=["statement"])
    revision.save()
    for upload in files:
        EvidenceFile.objects.create(
            revision=revision,
            original_name=upload.original_name,
            storage_name=upload.storage_name,
            sha256=upload.sha256,
            size=upload.size,
            detected_type=upload.detected_type,
        )
    return revision


def _enqueue_scans(revision: EvidenceRevision) -> None:
    file_ids = list(revision.files.values_list("pk", flat=True))
    transaction.on_commit(lambda: [registered_task(EVIDENCE_FILE_SCAN).delay(file_id) for file_id in file_ids])


@transaction.atomic
def evidence_create(
    *,
    actor,
    owner: Organisation,
    title: str,
    requirement_codes: list[str],
    statement: str,
    effective_date: date,
    files: list[StoredUpload],
    deployment: Deployment | None = None,
    product_version: ProductVersion | None = None,
    submit: bool = True,
) -> Evidence:
    """Create evidence with its first revision. Deployment evidence is seen by that deployment;
    product-version evidence by every deployment of the version, now and later."""
    if (deployment is None) == (product_version is None):
        raise ValueError("Evidence is scoped to exactly one deployment or one product version.")
    _check_can_contribute(actor, owner, deployment=deployment, product_version=product_version)
    codes = sorted(set(requirement_codes))
    if not codes:
        raise refused("requirement_codes", "Choose at least one requirement this evidence meets.", "no_requirements")
    requirements = _requirements_for(codes, _framework_of(deployment))
    _check_provider(requirements, owner)
    evidence = Evidence(
        owner=owner,
        deployment=deployment,
        product_version=product_version,
        title=title.strip(),
        requirement_codes=codes,
        created_by=actor,
    )
    evidence.full_clean()
    evidence.save()
    revision = _add_revision(
        evidence=evidence,
        actor=actor,
        statement=statement,
        effective_date=effective_date,
        files=files,
        requirements=list(requirements.values()),
        number=1,
    )
    deployments = [deployment] if deployment else list(product_version.deployments.all())
    review_by = review_by_for(list(requirements.values()), owner)
    now = timezone.now()
    EvidenceLink.objects.bulk_create(
        [
            EvidenceLink(
                evidence=evidence,
                deployment=d,
                review_by=review_by,
                revision=revision,
                status=EvidenceLink.Status.SUBMITTED if submit else EvidenceLink.Status.DRAFT,
                submitted_at=now if submit else None,
            )
            for d in deployments
        ]
    )
    _evidence_changed(d.pk for d in deployments)
    _enqueue_scans(revision)
    audit_event_record(
        action="evidence.create",
        actor=actor,
        organisation=owner,
        target=evidence,
        changes={
            "requirements": codes,
            "files": [f.sha256 for f in files],
            "submitted": submit,
            "deployments": [d.pk for d in deployments],
        },
    )
    return evidence


@transaction.atomic
def evidence_revise(
    *,
    actor,
    evidence: Evidence,
    statement: str,
    effective_date: date,
    files: list[StoredUpload],
    based_on_revision: int,
    submit: bool = True,
) -> EvidenceRevision:
    """Add a new revision. Refused when someone else revised it since the form was opened."""
    # Row lock: two people revising the same item at once must not both become revision N+1.
    # Only the evidence row: PostgreSQL cannot lock the nullable side of the outer join to deployment.
    evidence = (
        Evidence.objects.select_for_update(of=("self",)).select_related("deployment", "owner").get(pk=evidence.pk)
    )
    _check_owner_member(actor, evidence)
    latest = evidence.revisions.order_by("-number").first()
    if latest.number != based_on_revision:
        raise ValidationError(
            f"This evidence was revised (now revision {latest.number}) after you opened it. "
            "Your changes were not saved: reopen it to see the latest revision.",
            code="stale_revision",
        )
    requirements = list(_requirements_for(evidence.requirement_codes, _framework_of(evidence.deployment)).values())
    revision = _add_revision(
        evidence=evidence,
        actor=actor,
        statement=statement,
        effective_date=effective_date,
        files=files,
        requirements=requirements,
        number=latest.number + 1,
    )
    now = timezone.now()
    evidence.links.update(
        revision=revision,
        status=EvidenceLink.Status.SUBMITTED if submit else EvidenceLink.Status.DRAFT,
        submitted_at=now if submit else None,
        status_changed_at=now,
        version=F("version") + 1,
    )
    evidence.save(update_fields=["updated_at"])
    _enqueue_scans(revision)
    # Safety supersedes the sign-offs that relied on this evidence here, in this transaction: no
    # moment exists where the new revision is stored and an old sign-off still reads as current.
    events.publish(EvidenceRevised(evidence_id=evidence.pk))
    _evidence_changed(evidence.links.values_list("deployment_id", flat=True))
    audit_event_record(
        action="evidence.revise",
        actor=actor,
        organisation=evidence.owner,
        target=evidence,
        changes={"revision": revision.number, "files": [f.sha256 for f in files], "submitted": submit},
    )
    return revision


@transaction.atomic
def evidence_submit(*, actor, evidence: Evidence) -> Evidence:
    evidence = Evidence.objects.select_for_update().get(pk=evidence.pk)
    _check_owner_member(actor, evidence)
    now = timezone.now()
    changed = evidence.links.filter(status=EvidenceLink.Status.DRAFT).update(
        status=EvidenceLink.Status.SUBMITTED, submitted_at=now, status_changed_at=now, version=F("version") + 1
    )
    if not changed:
        raise ValidationError("This evidence has already been submitted.", code="not_draft")
    _evidence_changed(evidence.links.values_list("deployment_id", flat=True))
    audit_event_record(action="evidence.submit", actor=actor, organisation=evidence.owner, target=evidence)
    return evidence


def evidence_links_for_new_deployment(*, deployment: Deployment, exclude: set[int] | None = None) -> int:
    """Share the product version's existing supplier evidence with a newly opened deployment."""
    links = []
    shared = Evidence.objects.filter(product_version=deployment.product_version).exclude(pk__in=exclude or ())
    for evidence in shared.prefetch_related("links"):
        template = next(iter(evidence.links.all()), None)
        latest = evidence.revisions.order_by("-number").first()
        is_draft = template is not None and template.status == EvidenceLink.Status.DRAFT
        if template is not None:
            review_by = template.review_by
        else:
            # No deployment shared it yet: its requirements decide, as evidence_create does.
            requirements = list(
                Requirement.objects.filter(framework=_framework_of(deployment), code__in=evidence.requirement_codes)
            )
            review_by = (
                review_by_for(requirements, evidence.owner) if requirements else EvidenceLink.ReviewBy.DEPLOYING_CSO
            )
        links.append(
            EvidenceLink(
                evidence=evidence,
                deployment=deployment,
                review_by=review_by,
                revision=latest,
                status=EvidenceLink.Status.DRAFT if is_draft else EvidenceLink.Status.SUBMITTED,
                submitted_at=None if is_draft else timezone.now(),
            )
        )
    EvidenceLink.objects.bulk_create(links)
    return len(links)


# --- review -------------------------------------------------------------------------------------


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
    if link.status != EvidenceLink.Status.SUBMITTED:
        raise ValidationError("Only evidence waiting for review can be reviewed.", code="not_submitted")
    if decision not in Review.Decision.values:
        raise refused("decision", "Choose accept or request changes.", "invalid_decision")
    comment = comment.strip()
    if decision == Review.Decision.REQUEST_CHANGES and not comment:
        raise refused("comment", "Say what needs to change.", "comment_required")
    if decision == Review.Decision.ACCEPT:
        if not selectors.revision_files_cleared(link.revision):
            raise ValidationError(selectors.FILES_NOT_CLEARED, code="files_not_clean")
        pars_problem = pars_acceptance_problem(link=link, revision=link.revision)
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
        revision=link.revision,
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
        EvidenceComment.objects.create(link=link, author=actor, organisation=organisation, text=comment)
    _evidence_changed([link.deployment_id])
    audit_event_record(
        action="evidence.review",
        actor=actor,
        organisation=organisation,
        target=link,
        changes={"decision": decision, "revision": link.revision.number, "deployment": link.deployment_id},
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


# --- scanning and expiry ------------------------------------------------------------------------


@transaction.atomic
def evidence_file_record_scan(*, file: EvidenceFile, status: str, detail: str = "") -> EvidenceFile:
    file = EvidenceFile.objects.select_for_update().get(pk=file.pk)
    if file.scan_status in (EvidenceFile.ScanStatus.CLEAN, EvidenceFile.ScanStatus.INFECTED):
        return file  # final: a later redelivery of the same scan changes nothing
    file.scan_status = status
    file.scan_detail = detail[:255]
    file.scanned_at = timezone.now()
    file.save(update_fields=["scan_status", "scan_detail", "scanned_at"])
    audit_event_record(
        action="evidence_file.scan",
        target=file,
        outcome=AuditEvent.Outcome.SUCCESS if status == EvidenceFile.ScanStatus.CLEAN else AuditEvent.Outcome.FAILURE,
        changes={"status": status, "detail": detail[:255], "sha256": file.sha256},
    )
    pars_check_enqueue(file=file)
    return file


@transaction.atomic
def evidence_expire_due(*, today: date | None = None) -> list[int]:
    """Mark accepted evidence whose revision has expired; returns the link ids changed."""
    today = today or timezone.localdate()
    due = list(
        EvidenceLink.objects.select_for_update(of=("self",))
        .filter(status=EvidenceLink.Status.ACCEPTED, revision__expiry_date__lte=today)
        .select_related("evidence__owner", "revision")
    )
    now = timezone.now()
    for link in due:
        link.status = EvidenceLink.Status.EXPIRED
        link.status_changed_at = now
        link.version += 1
        link.save(update_fields=["status", "status_changed_at", "version"])
        audit_event_record(
            action="evidence.expire",
            target=link,
            organisation=link.evidence.owner,
            changes={"expired_on": str(link.revision.expiry_date if link.revision else today)},
        )
    _evidence_changed(link.deployment_id for link in due)
    return [link.pk for link in due]


# --- uplift -------------------------------------------------------------------------------------


@transaction.atomic
def evidence_carry_forward(*, actor, to_version: ProductVersion, changed_codes: list[str]) -> list[Evidence]:
    """Carry the previous version's evidence to a new product version, except evidence for the
    requirements that changed, which the supplier evidences again (an uplift). Carried evidence
    keeps its statement, files and hashes and is submitted for review on each deployment."""
    source = to_version.previous_version
    if source is None:
        raise ValidationError(
            "This product version has no earlier version to carry evidence from.", code="no_previous_version"
        )
    supplier = to_version.product.supplier
    permissions.CARRY_FORWARD.require(actor, to_version)
    already = set(Evidence.objects.filter(product_version=to_version).values_list("carried_forward_from", flat=True))
    changed = set(changed_codes)
    carried = []
    for evidence in Evidence.objects.filter(product_version=source).order_by("pk"):
        if evidence.pk in already or changed & set(evidence.requirement_codes):
            continue
        latest = evidence.revisions.order_by("-number").prefetch_related("files").first()
        files = [
            StoredUpload(f.original_name, f.storage_name, f.sha256, f.size, f.detected_type)
            for f in latest.files.filter(scan_status=EvidenceFile.ScanStatus.CLEAN)
        ]
        new = Evidence(
            owner=evidence.owner,
            product_version=to_version,
            title=evidence.title,
            requirement_codes=evidence.requirement_codes,
            carried_forward_from=evidence,
            created_by=actor,
        )
        new.full_clean()
        new.save()
        revision = EvidenceRevision.objects.create(
            evidence=new,
            number=1,
            statement=latest.statement,
            effective_date=latest.effective_date,
            expiry_date=latest.expiry_date,
            uploaded_by=actor,
        )
        for upload in files:
            # The stored bytes are shared: files are immutable, so one copy serves both versions.
            EvidenceFile.objects.create(
                revision=revision,
                original_name=upload.original_name,
                storage_name=upload.storage_name,
                sha256=upload.sha256,
                size=upload.size,
                detected_type=upload.detected_type,
                scan_status=EvidenceFile.ScanStatus.CLEAN,
                scan_detail="Carried forward; scanned clean before",
                scanned_at=timezone.now(),
            )
        review_by = next(iter(evidence.links.values_list("review_by", flat=True)), EvidenceLink.ReviewBy.DEPLOYING_CSO)
        EvidenceLink.objects.bulk_create(
            [
                EvidenceLink(
                    evidence=new,
                    deployment=d,
                    review_by=review_by,
                    revision=revision,
                    status=EvidenceLink.Status.SUBMITTED,
                    submitted_at=timezone.now(),
                )
                for d in to_version.deployments.all()
            ]
        )
        carried.append(new)
    _evidence_changed(to_version.deployments.values_list("pk", flat=True) if carried else [])
    audit_event_record(
        action="evidence.carry_forward",
        actor=actor,
        organisation=supplier,
        target=to_version,
        changes={"from": str(source), "carried": [e.pk for e in carried], "changed": sorted(changed)},
    )
    return carried
