"""What clinical safety does when a lower layer tells it something."""

from django.dispatch import receiver

from certificates.signals import certificate_expired
from safety import re_review_services
from safety.models import ReReviewRequest

# The national library's hazard "A site cut off by certificate or trust-store expiry".
CERTIFICATE_EXPIRY_HAZARD = "NIR-06"


@receiver(certificate_expired, dispatch_uid="safety_certificate_expiry_re_review")
def certificate_expiry_flags_hazard(sender, *, revision_id: int, deployment_ids: list[int], reason: str, **kwargs):
    for deployment_id in deployment_ids:
        re_review_services.hazard_re_review_request(
            deployment_id=deployment_id,
            library_code=CERTIFICATE_EXPIRY_HAZARD,
            source=ReReviewRequest.Source.CERTIFICATE_EXPIRY,
            source_reference=f"certificate-revision:{revision_id}",
            reason=reason,
        )
