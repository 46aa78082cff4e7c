"""Safety's answers to onboarding's domain events (registered in SafetyConfig.ready)."""

from nir_portal import events
from onboarding.events import DeploymentCreated, EvidenceRevised
from safety.services import hazard_log_create, sign_offs_refresh_for_evidence


def hazard_log_start(event: DeploymentCreated) -> dict:
    """Every deployment has a hazard log from the moment it exists."""
    return {"hazards": hazard_log_create(deployment=event.deployment)}


def sign_offs_supersede(event: EvidenceRevised) -> None:
    """A new revision of evidence a control relied on supersedes the sign-offs that cited it."""
    sign_offs_refresh_for_evidence(evidence_id=event.evidence_id)


def connect() -> None:
    # Both in the publisher's transaction: a deployment without its hazard log, or a window where a
    # superseded sign-off still reads as current, must never be committed.
    events.subscribe(DeploymentCreated, hazard_log_start, delivery=events.Delivery.IN_TRANSACTION)
    events.subscribe(EvidenceRevised, sign_offs_supersede, delivery=events.Delivery.IN_TRANSACTION)
