"""A deployment taken through its onboarding stages by the real services, for the demo data and the
tests that need a deployment ready for go-live: each party states its evidence for every mandatory
requirement it provides (one item per party: a statement, and for PARS conformance the shipped
conformant sample AuditEvents, stored, scanned by clamd and checked as an upload is), the reviewers
the routing names accept it, and the deployment lead moves the deployment forward one stage at a time, each move checked
against that stage's mandatory requirements. Every write is the service's own, audited as in use.
Development and test data only."""

import hashlib
from pathlib import Path

from django.utils import timezone

from nir_portal.accounts.models import Organisation
from onboarding import permissions, uploads
from onboarding.models import Deployment, EvidenceFile, EvidenceLink, Requirement
from onboarding.models.deployments import STAGE_ORDER
from onboarding.services import pars
from onboarding.services.deployments import deployment_stage_change
from onboarding.services.evidence.contributions import evidence_create
from onboarding.services.evidence.review import evidence_review
from onboarding.services.evidence.rules import StoredUpload
from onboarding.tasks import evidence_file_scan

PARS_SAMPLES = Path(__file__).resolve().parent / "data" / "pars_examples" / "conformant.ndjson"
STATEMENT = "Described in the attached procedure, approved by the organisation's governance board."


def onboarding_complete(
    *, deployment: Deployment, lead, trust_contributor, supplier_contributor, reviewers: list
) -> Deployment:
    """Accept evidence for every mandatory requirement of the deployment's framework and move it to
    the clinical safety sign-off stage. `reviewers` are tried in turn for each link: the first the
    link's routing allows reviews it. A deployment already past that stage is left as it is."""
    deployment.refresh_from_db()
    target = STAGE_ORDER.index(Deployment.Stage.SAFETY_SIGN_OFF)
    if deployment.stage not in STAGE_ORDER or STAGE_ORDER.index(deployment.stage) >= target:
        return deployment
    if deployment.framework_id is not None:
        mandatory = list(Requirement.objects.filter(framework_id=deployment.framework_id, mandatory=True))
        trust_codes = [r.code for r in mandatory if r.provided_by != Requirement.ProvidedBy.SUPPLIER]
        supplier_codes = [r.code for r in mandatory if r.provided_by != Requirement.ProvidedBy.DEPLOYING]
        _state(trust_contributor, deployment.organisation, trust_codes, deployment=deployment)
        _state(
            supplier_contributor,
            deployment.product_version.product.supplier,
            supplier_codes,
            product_version=deployment.product_version,
        )
        for link in EvidenceLink.objects.filter(deployment=deployment, status=EvidenceLink.Status.SUBMITTED):
            reviewer = next(person for person in reviewers if permissions.can_review(person, link))
            evidence_review(
                actor=reviewer,
                link=link,
                decision="accept",
                comment="Meets the requirement.",
                expected_version=link.version,
            )
    while STAGE_ORDER.index(deployment.stage) < target:
        deployment = deployment_stage_change(
            actor=lead, deployment=deployment, to_stage=STAGE_ORDER[STAGE_ORDER.index(deployment.stage) + 1]
        )
    return deployment


def _state(actor, owner: Organisation, codes: list[str], **scope) -> None:
    if not codes:
        return
    needs_samples = pars.requirement_code() in codes
    evidence = evidence_create(
        actor=actor,
        owner=owner,
        title=f"Onboarding assurance statement ({owner.name})",
        requirement_codes=codes,
        statement=STATEMENT,
        effective_date=timezone.localdate(),
        files=[stored_upload(PARS_SAMPLES.read_bytes(), PARS_SAMPLES.name)] if needs_samples else [],
        **scope,
    )
    for file in EvidenceFile.objects.filter(revision__evidence=evidence):
        # The worker's scan, run here: one attempt, its result recorded as the worker records it
        # (a file a worker already scanned is skipped, its result standing).
        evidence_file_scan.run(file.pk, retry=False)
        file.refresh_from_db()
        if file.scan_status != EvidenceFile.ScanStatus.CLEAN:
            raise RuntimeError(
                f"The malware scan of {file.original_name} did not pass: {file.get_scan_status_display()}."
            )
        pars.pars_report_record(file_id=file.pk)


def stored_upload(content: bytes, name: str) -> StoredUpload:
    """The bytes through the upload path's own inspection and storage, as an uploaded file is."""
    upload = uploads.HashedTemporaryUploadedFile(name, "application/octet-stream", None)
    upload.write(content)
    upload.seek(0)
    upload.sha256, upload.size = hashlib.sha256(content).hexdigest(), len(content)
    inspected = uploads.inspect_upload(upload)
    return StoredUpload(
        original_name=inspected.safe_name,
        storage_name=uploads.store_upload(upload, inspected),
        sha256=inspected.sha256,
        size=inspected.size,
        detected_type=inspected.detected_type,
    )
