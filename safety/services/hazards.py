"""The deployment's hazard log: starting it, editing a hazard's assessment, local hazards, and the
CSO's decision on hazards the supplier transferred."""

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max

from nir_portal import events
from nir_portal.accounts import reauth
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding.models import Deployment
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.models import (
    ClinicalRiskManagementPlan,
    DeploymentHazard,
    HazardChange,
    HazardLibrary,
    RiskMatrix,
    SupplierHazard,
)
from safety.services.reference import JUSTIFY_RATING, rating_for, safety_reference_data_load
from safety.services.sign_off import sign_off_refresh

HAZARD_FIELDS = (
    "name",
    "description",
    "clinical_impact",
    "causes",
    "existing_controls",
    "is_applicable",
    "applicability_justification",
    "initial_severity",
    "initial_likelihood",
    "residual_severity",
    "residual_likelihood",
    "residual_justification",
    "operating_limits",
    "status",
)


def hazard_next_number(deployment: Deployment) -> int:
    return (DeploymentHazard.objects.filter(deployment=deployment).aggregate(n=Max("number"))["n"] or 0) + 1


def supplier_hazard_copy_to_log(deployment: Deployment, hazard: SupplierHazard, matrix: RiskMatrix, number: int):
    return DeploymentHazard(
        deployment=deployment,
        number=number,
        source=DeploymentHazard.Source.SUPPLIER,
        supplier_hazard=hazard,
        name=hazard.name,
        description=hazard.description,
        clinical_impact=hazard.clinical_impact,
        causes=hazard.causes,
        existing_controls=hazard.supplier_controls,
        transfer_decision=DeploymentHazard.TransferDecision.PENDING,
        risk_matrix=matrix,
        status=DeploymentHazard.Status.TRANSFERRED,
    )


def hazard_log_create(*, deployment: Deployment) -> int:
    """Start a deployment's hazard log from the national library and the supplier's transferred
    hazards, under the default risk matrix named in its clinical risk management plan."""
    matrix = RiskMatrix.objects.filter(is_default=True).first()
    if matrix is None:
        matrix, _ = safety_reference_data_load()
    ClinicalRiskManagementPlan.objects.get_or_create(deployment=deployment, defaults={"risk_matrix": matrix})
    if DeploymentHazard.objects.filter(deployment=deployment).exists():
        return 0
    library = HazardLibrary.objects.filter(status=HazardLibrary.Status.PUBLISHED).order_by("-version").first()
    hazards: list[DeploymentHazard] = []
    for library_hazard in library.hazards.all() if library else []:
        hazards.append(
            DeploymentHazard(
                deployment=deployment,
                number=len(hazards) + 1,
                source=DeploymentHazard.Source.LIBRARY,
                library_hazard=library_hazard,
                name=library_hazard.name,
                description=library_hazard.description,
                clinical_impact=library_hazard.clinical_impact,
                causes=library_hazard.causes,
                risk_matrix=matrix,
            )
        )
    for supplier_hazard in deployment.product_version.hazards.filter(is_transferred=True).order_by("code"):
        hazards.append(supplier_hazard_copy_to_log(deployment, supplier_hazard, matrix, len(hazards) + 1))
    DeploymentHazard.objects.bulk_create(hazards)
    return len(hazards)


def _lock_hazard(hazard: DeploymentHazard, expected_version: int) -> DeploymentHazard:
    # Row lock on the deployment first, then the hazard: the fixed order every safety write uses.
    Deployment.objects.select_for_update().get(pk=hazard.deployment_id)
    # Only the hazard row: the risk matrix joined in is shared by every deployment's log.
    locked = (
        DeploymentHazard.objects.select_for_update(of=("self",))
        .select_related("deployment", "risk_matrix")
        .get(pk=hazard.pk)
    )
    if locked.version != expected_version:
        raise ValidationError(
            f"{locked.reference} was changed by someone else after you opened it (your copy is version "
            f"{expected_version}, the log now has version {locked.version}). Nothing was saved: reopen the "
            "hazard to see the latest and make your change again.",
            code="stale_edit",
        )
    return locked


def _check_hazard_rules(hazard: DeploymentHazard) -> None:
    errors: dict[str, str] = {}
    if not hazard.is_applicable and not hazard.applicability_justification.strip():
        errors["applicability_justification"] = "Say why this hazard does not apply to the deployment."
    if hazard.residual_rating == JUSTIFY_RATING and not hazard.residual_justification.strip():
        errors["residual_justification"] = (
            "A residual rating of 3 is undesirable: explain why further risk reduction is impractical."
        )
    if bool(hazard.initial_severity) != bool(hazard.initial_likelihood):
        errors["initial_likelihood"] = "Give both the initial severity and likelihood, or neither."
    if bool(hazard.residual_severity) != bool(hazard.residual_likelihood):
        errors["residual_likelihood"] = "Give both the residual severity and likelihood, or neither."
    if (
        hazard.status == DeploymentHazard.Status.CLOSED
        and hazard.pk
        and hazard.actions.filter(completed_at__isnull=True).exists()
    ):
        errors["status"] = "A hazard can be closed only when all its actions are complete."
    if errors:
        raise ValidationError(
            {field: ValidationError(message, code="hazard_rules") for field, message in errors.items()}
        )


def _record_change(hazard: DeploymentHazard, actor, summary: str, changes: dict[str, Any]) -> None:
    HazardChange.objects.create(
        hazard=hazard, changed_by=actor, summary=summary, changes=json.loads(json.dumps(changes, default=str))
    )
    events.publish(SafetyCaseChanged(deployment_id=hazard.deployment_id))


@transaction.atomic
def hazard_update(*, actor, hazard: DeploymentHazard, expected_version: int, **fields) -> DeploymentHazard:
    """Edit a hazard's assessment. Ratings are looked up from the log's risk matrix."""
    if not permissions.can_edit_hazard_log(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    hazard = _lock_hazard(hazard, expected_version)
    before = {name: getattr(hazard, name) for name in (*HAZARD_FIELDS, "initial_rating", "residual_rating")}
    for name, value in fields.items():
        if name not in HAZARD_FIELDS:
            raise ValueError(f"{name} is not an editable hazard field")
        setattr(hazard, name, value.strip() if isinstance(value, str) else value)
    hazard.initial_rating = rating_for(hazard.risk_matrix, hazard.initial_severity, hazard.initial_likelihood)
    hazard.residual_rating = rating_for(hazard.risk_matrix, hazard.residual_severity, hazard.residual_likelihood)
    _check_hazard_rules(hazard)
    changes = {name: [before[name], getattr(hazard, name)] for name in before if before[name] != getattr(hazard, name)}
    if not changes:
        return hazard
    hazard.version += 1
    hazard.updated_by = actor
    hazard.full_clean()
    hazard.save()
    _record_change(hazard, actor, "Assessment updated", changes)
    audit_event_record(
        action="hazard.update", actor=actor, organisation=hazard.deployment.organisation, target=hazard, changes=changes
    )
    sign_off_refresh(deployment=hazard.deployment)
    return hazard


@transaction.atomic
def hazard_add_local(
    *, actor, deployment: Deployment, name: str, description: str, clinical_impact: str = "", causes: str = ""
) -> DeploymentHazard:
    if not permissions.can_edit_hazard_log(actor, deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    Deployment.objects.select_for_update().get(pk=deployment.pk)
    hazard = DeploymentHazard(
        deployment=deployment,
        number=hazard_next_number(deployment),
        source=DeploymentHazard.Source.LOCAL,
        name=name.strip(),
        description=description.strip(),
        clinical_impact=clinical_impact,
        causes=causes,
        risk_matrix=deployment.risk_plan.risk_matrix,
        updated_by=actor,
    )
    hazard.full_clean()
    hazard.save()
    _record_change(hazard, actor, "Local hazard added", {"name": [None, hazard.name]})
    audit_event_record(action="hazard.add", actor=actor, organisation=deployment.organisation, target=hazard)
    sign_off_refresh(deployment=deployment)
    return hazard


@transaction.atomic
def hazard_transfer_decide(
    *,
    actor,
    hazard: DeploymentHazard,
    decision: str,
    justification: str,
    expected_version: int,
    mfa_verified_at: float | None,
) -> DeploymentHazard:
    """The deploying CSO accepts, adapts or rejects a hazard transferred from the supplier. Each
    answer binds the CSO (a rejection takes the hazard out of the log), so each needs a fresh
    authenticator check: `mfa_verified_at` is when the CSO last completed one (epoch seconds)."""
    if not permissions.can_sign_off(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO decides on transferred hazards.")
    reauth.require_recent_mfa(mfa_verified_at=mfa_verified_at, action="decide on a transferred hazard")
    hazard = _lock_hazard(hazard, expected_version)
    if hazard.source != DeploymentHazard.Source.SUPPLIER:
        raise ValidationError(
            "Only hazards transferred by the supplier need a transfer decision.", code="not_transferred"
        )
    choices = {
        DeploymentHazard.TransferDecision.ACCEPTED,
        DeploymentHazard.TransferDecision.ADAPTED,
        DeploymentHazard.TransferDecision.REJECTED,
    }
    if decision not in choices:
        raise refused("decision", "Choose accept, adapt or reject.", "invalid_decision")
    if not justification.strip():
        raise refused("justification", "Give the reason for your decision.", "justification_required")
    changes: dict[str, list[Any]] = {
        "transfer_decision": [hazard.transfer_decision, decision],
        "transfer_justification": [hazard.transfer_justification, justification.strip()],
    }
    hazard.transfer_decision = decision
    hazard.transfer_justification = justification.strip()
    if decision == DeploymentHazard.TransferDecision.REJECTED:
        changes["is_applicable"] = [hazard.is_applicable, False]
        changes["applicability_justification"] = [hazard.applicability_justification, justification.strip()]
        hazard.is_applicable = False
        hazard.applicability_justification = justification.strip()
    hazard.version += 1
    hazard.updated_by = actor
    hazard.save()
    _record_change(hazard, actor, f"Transferred hazard {hazard.get_transfer_decision_display().lower()}", changes)
    audit_event_record(
        action="hazard.transfer_decision",
        actor=actor,
        organisation=hazard.deployment.organisation,
        target=hazard,
        changes=changes,
    )
    sign_off_refresh(deployment=hazard.deployment)
    return hazard
