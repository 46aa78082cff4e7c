"""The CSCR's sections for each lifecycle phase after deployment, from the structured data the
phase's journey collected: the periodic review (use), the version change and its re-assessment
(maintenance), and the decommissioning assessment (DCB0160 7.4)."""

from django.core.exceptions import ValidationError

from safety.lifecycle.models import DecommissioningPlan, HazardReReview, PeriodicReview, SupplierHazardDelta
from safety.models import CSCRBundleJob, SignOff

PHASE_SECTIONS = {
    CSCRBundleJob.Phase.DEPLOYMENT: (),
    CSCRBundleJob.Phase.USE: ("17 Use: periodic review",),
    CSCRBundleJob.Phase.MAINTENANCE: (
        "17 Maintenance: the version change",
        "18 Maintenance: the supplier's DCB0129 delta",
        "19 Maintenance: re-assessment of the change",
    ),
    CSCRBundleJob.Phase.DECOMMISSIONING: (
        "17 Decommissioning: data retention",
        "18 Decommissioning: access to prior imaging",
        "19 Decommissioning: replacement service",
        "20 Decommissioning: hazards closed by decommissioning",
    ),
}


def phase_refusal(*, deployment, sign_off: SignOff, phase: str) -> None:
    """Refuse a phase's CSCR when its journey has not collected what the phase reports."""
    # A use-phase CSCR without a periodic review says so in its own section rather than being refused.
    if phase == CSCRBundleJob.Phase.MAINTENANCE and not (sign_off.case_version and sign_off.case_version.number > 1):
        raise ValidationError(
            "A maintenance CSCR reports a version change: the sign-off must be of an upgraded case version.",
            code="no_version_change",
        )
    if (
        phase == CSCRBundleJob.Phase.DECOMMISSIONING
        and not DecommissioningPlan.objects.filter(deployment=deployment).exists()
    ):
        raise ValidationError("Record the decommissioning plan first.", code="no_plan")


def phase_context(job: CSCRBundleJob) -> dict:
    phase, sign_off = job.lifecycle_phase, job.sign_off
    context: dict = {"phase_sections": PHASE_SECTIONS.get(phase, ()), "phase_code": phase}
    if phase == CSCRBundleJob.Phase.USE:
        context["periodic_review"] = (
            PeriodicReview.objects.filter(deployment=job.deployment, created_at__lte=job.created_at)
            .select_related("recorded_by")
            .first()
        )
    elif phase == CSCRBundleJob.Phase.MAINTENANCE:
        case = sign_off.case_version
        context["case_version"] = case
        context["previous_case"] = case.previous if case else None
        context["delta"] = list(SupplierHazardDelta.objects.filter(product_version_id=case.product_version_id))
        context["re_reviews"] = list(
            HazardReReview.objects.filter(case_version=case, reviewed_at__lte=sign_off.signed_at)
            .select_related("hazard", "reviewed_by")
            .order_by("hazard__number", "reviewed_at")
        )
    elif phase == CSCRBundleJob.Phase.DECOMMISSIONING:
        plan = DecommissioningPlan.objects.filter(deployment=job.deployment).first()
        context["plan"] = plan
        context["hazards_closed"] = list(plan.hazards_closed.order_by("number")) if plan else []
    return context
