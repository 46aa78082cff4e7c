"""Evidence when a deployment's case moves to a newer product version: evidence carries forward
only where its requirement did not change."""

from django.utils import timezone

from onboarding.models import Deployment, Evidence, EvidenceLink, ProductVersion
from onboarding.services.evidence.contributions import evidence_links_for_new_deployment


def evidence_links_for_upgrade(*, deployment: Deployment, from_version: ProductVersion, to_version: ProductVersion):
    """Links whose evidence answers a requirement the new version changed stop counting (marked
    expired for this deployment); the rest carry forward as they stand. The new version's own
    supplier evidence is shared with the deployment, except copies carried forward from evidence
    the deployment still relies on. Returns counts."""
    changed = set(to_version.changed_requirement_codes)
    now = timezone.now()
    links = (
        EvidenceLink.objects.select_for_update(of=("self",)).filter(deployment=deployment).select_related("evidence")
    )
    withdrawn, carried, still_valid = 0, 0, set()
    for link in links:
        if changed & set(link.evidence.requirement_codes):
            if link.status != EvidenceLink.Status.EXPIRED:
                link.status, link.status_changed_at, link.version = EvidenceLink.Status.EXPIRED, now, link.version + 1
                link.save(update_fields=["status", "status_changed_at", "version"])
                withdrawn += 1
        else:
            carried += 1
            still_valid.add(link.evidence_id)
    new_evidence = Evidence.objects.filter(product_version=to_version)
    skip = set(new_evidence.filter(carried_forward_from__in=still_valid).values_list("pk", flat=True)) | set(
        EvidenceLink.objects.filter(deployment=deployment).values_list("evidence_id", flat=True)
    )
    shared = evidence_links_for_new_deployment(deployment=deployment, exclude=skip)
    return {"carried_forward": carried, "withdrawn": withdrawn, "shared_from_new_version": shared}
