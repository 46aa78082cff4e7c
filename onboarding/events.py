"""The events onboarding publishes through `nir_portal.events` for the apps above it. Onboarding
knows nothing of who listens: safety subscribes to keep the hazard log and sign-offs in step."""

from dataclasses import dataclass

from onboarding.models import Deployment


@dataclass(frozen=True)
class DeploymentCreated:
    """A deployment has just been opened (published inside the creating transaction)."""

    deployment: Deployment


@dataclass(frozen=True)
class EvidenceRevised:
    """Evidence has a new revision (published inside the revising transaction, after the links
    point at it)."""

    evidence_id: int


@dataclass(frozen=True)
class DeploymentEvidenceChanged:
    """What some deployments have evidenced changed: an evidence link was added, submitted, reviewed,
    expired or moved to a new revision, or a deployment moved to another framework (published
    inside the writing transaction)."""

    deployment_ids: tuple[int, ...]
