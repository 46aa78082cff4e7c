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
