"""Demo data for the safety case's later life (DEBUG only, through seed_demo): Acme's DCB0129
hazards for versions 2.0 and 2.1, and Eastmoor live on 2.0 (its onboarding evidence accepted and
its stages passed, its case signed off and authorised), so the supplier can publish 2.1 and the
trust can upgrade to it. Safe to run again."""

import time

from django.utils import timezone

from nir_portal.accounts.models import Membership, Organisation, Role
from onboarding.arrangements import onboarding_complete
from onboarding.models import Deployment, ProductVersion
from safety import services
from safety.lifecycle import going_live
from safety.models import DeploymentHazard, SignOff, SupplierHazard

HAZARDS = {
    "2.0": [
        ("ACME-01", "Gateway timeout shown as no prior imaging", "Per-source status shown on timeout."),
        ("ACME-02", "Study cache serves a superseded report", "Cache entries expire after 24 hours."),
    ],
    "2.1": [
        ("ACME-01", "Gateway timeout shown as no prior imaging", "Retries twice, then shows per-source status."),
        ("ACME-03", "Retries slow responses in acute pathways", "Retry budget capped at 4 seconds."),
    ],
}


def _person(organisation, role):
    return Membership.objects.filter(organisation=organisation, role=role).select_related("user").first().user


def demo_lifecycle_seed(*, product_versions: dict[str, ProductVersion]) -> None:
    supplier = product_versions["2.0"].product.supplier
    supplier_cso = _person(supplier, Role.SUPPLIER_CSO)
    for version_name, hazards in HAZARDS.items():
        version = product_versions[version_name]
        for code, name, controls in hazards:
            if not SupplierHazard.objects.filter(product_version=version, code=code).exists():
                services.supplier_hazard_save(
                    actor=supplier_cso,
                    product_version=version,
                    code=code,
                    name=name,
                    description=name,
                    clinical_impact="Clinicians act on an incomplete or outdated imaging history.",
                    causes="Slow or unavailable source networks.",
                    supplier_controls=controls,
                    is_transferred=True,
                    transfer_note="Train staff that an absent result is not absent imaging.",
                )
    for deployment in Deployment.objects.filter(product_version=product_versions["2.0"], stage=Deployment.Stage.SETUP):
        _take_live(deployment)


def _take_live(deployment: Deployment) -> None:
    cso = _person(deployment.organisation, Role.CSO)
    national = (
        Membership.objects.filter(organisation__kind=Organisation.Kind.NATIONAL, role=Role.NATIONAL_REVIEWER)
        .first()
        .user
    )
    deployment = onboarding_complete(
        deployment=deployment,
        lead=_person(deployment.organisation, Role.DEPLOYMENT_LEAD),
        trust_contributor=_person(deployment.organisation, Role.EVIDENCE_CONTRIBUTOR),
        supplier_contributor=_person(deployment.product_version.product.supplier, Role.SUPPLIER_ASSURANCE_LEAD),
        reviewers=[national, cso],
    )
    matrix = deployment.risk_plan.risk_matrix
    for hazard in DeploymentHazard.objects.filter(deployment=deployment, transfer_decision="pending"):
        services.hazard_transfer_decide(
            actor=cso,
            hazard=hazard,
            decision=DeploymentHazard.TransferDecision.ACCEPTED,
            justification="Our imaging team applies the supplier's controls.",
            expected_version=hazard.version,
            mfa_verified_at=time.time(),
        )
    # Demo arrangement: every hazard scored in one step, as a CSO would have over weeks.
    DeploymentHazard.objects.filter(deployment=deployment).update(
        initial_severity="major",
        initial_likelihood="medium",
        initial_rating=matrix.rating("major", "medium"),
        residual_severity="minor",
        residual_likelihood="very_low",
        residual_rating=matrix.rating("minor", "very_low"),
        operating_limits="Holds while source-network status is monitored.",
    )
    if not SignOff.objects.filter(deployment=deployment).exists():
        services.sign_off_create(
            actor=cso,
            deployment=deployment,
            statement="The hazard log is complete and every residual risk is acceptable for go-live.",
            conditions=[],
            mfa_verified_at=time.time(),
        )
        services.go_live_authorise(
            actor=_person(deployment.organisation, Role.EXECUTIVE_APPROVER),
            deployment=deployment,
            statement="I authorise go-live and accept the residual risk.",
            mfa_verified_at=time.time(),
        )
    deployment.refresh_from_db()
    if deployment.stage == Deployment.Stage.GO_LIVE_AUTHORISED:
        # Recorded as the deployment lead records it in the portal.
        going_live.deployment_record_live(
            actor=_person(deployment.organisation, Role.DEPLOYMENT_LEAD),
            deployment=deployment,
            went_live_on=timezone.localdate(),
        )
