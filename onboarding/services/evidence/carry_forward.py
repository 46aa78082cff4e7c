"""Carrying a product version's evidence forward to its next version (an uplift)."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from nir_portal.audit.services import audit_event_record
from onboarding import permissions
from onboarding.models import (
    Evidence,
    EvidenceFile,
    EvidenceLink,
    EvidenceRevision,
    ProductVersion,
)
from onboarding.services.evidence.rules import StoredUpload, _evidence_changed


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
        latest = evidence.revisions.prefetch_related("files").latest("number")
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
