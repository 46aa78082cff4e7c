"""Safety's answers to the domain events of onboarding and the certificate register (registered in
SafetyConfig.ready)."""

from certificates.events import CertificateExpired
from nir_portal import events
from onboarding.events import DeploymentCreated, EvidenceRevised
from safety.models import ReReviewRequest
from safety.re_review_services import hazard_re_review_request
from safety.services.hazards import hazard_log_create
from safety.services.sign_off import sign_offs_refresh_for_evidence

# The national library's hazard "A site cut off by certificate or trust-store expiry".
CERTIFICATE_EXPIRY_HAZARD = "NIR-06"


def hazard_log_start(event: DeploymentCreated) -> dict:
    """Every deployment has a hazard log from the moment it exists."""
    return {"hazards": hazard_log_create(deployment=event.deployment)}


def sign_offs_supersede(event: EvidenceRevised) -> None:
    """A new revision of evidence a control relied on supersedes the sign-offs that cited it."""
    sign_offs_refresh_for_evidence(evidence_id=event.evidence_id)


def certificate_expiry_flags_hazard(event: CertificateExpired) -> None:
    """An expired live certificate puts each relying deployment's certificate expiry hazard back
    before the CSO, once per certificate revision."""
    for deployment_id in event.deployment_ids:
        hazard_re_review_request(
            deployment_id=deployment_id,
            library_code=CERTIFICATE_EXPIRY_HAZARD,
            source=ReReviewRequest.Source.CERTIFICATE_EXPIRY,
            source_reference=f"certificate-revision:{event.revision_id}",
            reason=event.reason,
        )


def connect() -> None:
    # Both in the publisher's transaction: a deployment without its hazard log, or a window where a
    # superseded sign-off still reads as current, must never be committed.
    events.subscribe(DeploymentCreated, hazard_log_start, delivery=events.Delivery.IN_TRANSACTION)
    events.subscribe(EvidenceRevised, sign_offs_supersede, delivery=events.Delivery.IN_TRANSACTION)
    # After commit: the expiry is a fact already recorded by the register; the re-review request and
    # its e-mail to the CSO are its consequence, in a transaction of their own.
    events.subscribe(CertificateExpired, certificate_expiry_flags_hazard, delivery=events.Delivery.ON_COMMIT)
