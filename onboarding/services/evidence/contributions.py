"""Contributing evidence: creating and revising it, submitting a draft, and sharing a product version's
evidence with a newly opened deployment."""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts.models import Organisation
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.task_registry import registered_task
from onboarding.events import EvidenceRevised
from onboarding.models import (
    Deployment,
    Evidence,
    EvidenceFile,
    EvidenceLink,
    EvidenceRevision,
    ProductVersion,
    Requirement,
)
from onboarding.models.evidence import STATEMENT_MAX_LENGTH
from onboarding.services.evidence.rules import (
    EVIDENCE_FILE_SCAN,
    StoredUpload,
    _check_can_contribute,
    _check_owner_member,
    _check_provider,
    _evidence_changed,
    _framework_of,
    _requirements_for,
    expiry_date_for,
    review_by_for,
)


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
    deployments: list[Deployment] = []  # one of the two is set: checked above
    if deployment is not None:
        deployments = [deployment]
    elif product_version is not None:
        deployments = list(product_version.deployments.all())
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
    latest = evidence.revisions.latest("number")
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
