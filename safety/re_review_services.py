"""Re-review of a hazard prompted from outside the hazard log: a lower layer (the certificate
register) reports a fact, and the CSO is asked to look again, as after a safety incident."""

from django.db import transaction

from nir_portal.audit.services import audit_event_record
from nir_portal.mail import messages
from onboarding.models import Deployment
from safety.models import DeploymentHazard, ReReviewRequest, SignOff


@transaction.atomic
def hazard_re_review_request(
    *, deployment_id: int, library_code: str, source: str, source_reference: str, reason: str
) -> ReReviewRequest:
    """Put a deployment's hazard (found by its national library code) back before the CSO, the way
    a safety incident does: the current sign-off is flagged for re-review when it covered the
    hazard, the CSO is told why by e-mail, and nothing is superseded. Recorded once per source."""
    # Row locks in the order every safety write takes them: the deployment, then its sign-off.
    deployment = Deployment.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=deployment_id)
    existing = ReReviewRequest.objects.filter(
        deployment=deployment, source=source, source_reference=source_reference
    ).first()
    if existing is not None:
        return existing
    hazard = (
        DeploymentHazard.objects.filter(deployment=deployment, library_hazard__code=library_code)
        .order_by("number")
        .first()
    )
    current = SignOff.objects.select_for_update().filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    signed_numbers = {h["number"] for h in current.snapshot["hazards"]} if current else set()
    flagged = current is not None and hazard is not None and hazard.number in signed_numbers
    if flagged:
        current.needs_re_review = True
        current.save(update_fields=["needs_re_review"])
    request = ReReviewRequest.objects.create(
        deployment=deployment,
        hazard=hazard,
        sign_off=current if flagged else None,
        source=source,
        source_reference=source_reference,
        reason=reason,
    )
    messages.hazard_re_review_requested(request=request, flagged=flagged)
    audit_event_record(
        action="hazard.re_review_request",
        organisation=deployment.organisation,
        target=hazard or deployment,
        changes={"source": source, "reference": source_reference, "reason": reason, "sign_off_flagged": flagged},
    )
    return request
