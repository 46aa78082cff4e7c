"""The events the certificate register publishes through `nir_portal.events` for the apps above it.
The register knows nothing of hazards: clinical safety subscribes and asks the CSO to re-review."""

from dataclasses import dataclass


@dataclass(frozen=True)
class CertificateExpired:
    """A live certificate's current revision has expired and not been renewed. Published by the
    daily check, every day until it is renewed: a subscriber acts once per revision, so a day lost
    to a failure is made good the next."""

    entry_id: int
    revision_id: int
    deployment_ids: tuple[int, ...]  # every deployment relying on it
    reason: str  # a sentence for the CSO
