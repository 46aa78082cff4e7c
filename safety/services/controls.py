"""A hazard's controls and actions."""

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from certificates.selectors import certificate_count_of_deployment
from nir_portal.accounts.models import Organisation
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding.models import Deployment, EvidenceRevision
from safety import permissions
from safety.models import (
    DeploymentHazard,
    HazardAction,
    HazardControl,
)
from safety.services.hazards import _lock_hazard, _record_change
from safety.services.sign_off import _check_verifying_evidence, sign_off_refresh


@transaction.atomic
def control_save(
    *,
    actor,
    hazard: DeploymentHazard,
    expected_version: int,
    kind: str,
    description: str,
    owner: Organisation,
    is_verified: bool,
    evidence_revisions: list[EvidenceRevision],
    cites_certificate_register: bool = False,
    control: HazardControl | None = None,
) -> HazardControl:
    """Add or change a control (the arguments are its whole new state). A control cited as verified
    must link to accepted, unexpired evidence, or cite the deployment's certificate register, whose
    expiry monitoring is then its evidence; only a register holding a certificate can be cited."""
    if not permissions.can_edit_hazard_log(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    hazard = _lock_hazard(hazard, expected_version)
    deployment = hazard.deployment
    if owner.pk not in (deployment.organisation_id, deployment.product_version.product.supplier_id):
        raise refused("owner", "The owner must be the deploying organisation or the supplier.", "owner_not_party")
    if cites_certificate_register and not certificate_count_of_deployment(deployment):
        raise refused(
            "cites_certificate_register",
            "The deployment's certificate register holds no certificate yet: register its certificates first.",
            "certificate_register_empty",
        )
    if is_verified:
        _check_verifying_evidence(deployment, evidence_revisions, cites_certificate_register=cites_certificate_register)
    before = None
    if control is None:
        control = HazardControl(hazard=hazard)
    else:
        control = HazardControl.objects.select_for_update().get(pk=control.pk, hazard=hazard)
        before = {
            "kind": control.kind,
            "description": control.description,
            "owner": control.owner_id,
            "verified": control.is_verified,
            "evidence": sorted(control.evidence_revisions.values_list("pk", flat=True)),
            "certificate_register": control.cites_certificate_register,
        }
    control.kind, control.description, control.owner, control.is_verified = (
        kind,
        description.strip(),
        owner,
        is_verified,
    )
    control.cites_certificate_register = cites_certificate_register
    control.full_clean()
    control.save()
    control.evidence_revisions.set(evidence_revisions)
    after = {
        "kind": kind,
        "description": control.description,
        "owner": owner.pk,
        "verified": is_verified,
        "evidence": sorted(r.pk for r in evidence_revisions),
        "certificate_register": cites_certificate_register,
    }
    changes = {k: [before[k] if before else None, after[k]] for k in after if not before or before[k] != after[k]}
    hazard.version += 1
    hazard.save(update_fields=["version", "updated_at"])
    _record_change(hazard, actor, "Control added" if before is None else "Control changed", changes)
    audit_event_record(
        action="hazard.control_save", actor=actor, organisation=deployment.organisation, target=hazard, changes=changes
    )
    sign_off_refresh(deployment=deployment)
    return control


@transaction.atomic
def action_add(
    *, actor, hazard: DeploymentHazard, expected_version: int, description: str, owner: Organisation, due_on: date
) -> HazardAction:
    if not permissions.can_edit_hazard_log(actor, hazard.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can edit the hazard log.")
    hazard = _lock_hazard(hazard, expected_version)
    deployment = hazard.deployment
    if owner.pk not in (deployment.organisation_id, deployment.product_version.product.supplier_id):
        raise refused("owner", "The owner must be the deploying organisation or the supplier.", "owner_not_party")
    action = HazardAction(
        hazard=hazard, deployment=deployment, description=description.strip(), owner=owner, due_on=due_on
    )
    action.full_clean()
    action.save()
    if hazard.status == DeploymentHazard.Status.CLOSED:
        hazard.status = DeploymentHazard.Status.OPEN
    hazard.version += 1
    hazard.save(update_fields=["version", "status", "updated_at"])
    _record_change(hazard, actor, "Action added", {"action": [None, action.description], "due_on": [None, due_on]})
    audit_event_record(
        action="hazard.action_add",
        actor=actor,
        organisation=hazard.deployment.organisation,
        target=hazard,
        changes={"action": action.description},
    )
    sign_off_refresh(deployment=hazard.deployment)
    return action


@transaction.atomic
def action_complete(*, actor, action: HazardAction) -> HazardAction:
    if not permissions.can_edit_hazard_log(actor, action.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO or deployment lead can complete actions.")
    Deployment.objects.select_for_update().get(pk=action.deployment_id)
    action = HazardAction.objects.select_for_update().get(pk=action.pk)
    if action.completed_at:
        raise ValidationError("This action is already complete.", code="already_complete")
    action.completed_at = timezone.now()
    action.save(update_fields=["completed_at"])
    if action.hazard_id:
        # A form opened before the completion must see the hazard as changed.
        DeploymentHazard.objects.filter(pk=action.hazard_id).update(version=F("version") + 1)
    if action.hazard is not None:
        _record_change(action.hazard, actor, "Action completed", {"action": [action.description, "complete"]})
    audit_event_record(
        action="hazard.action_complete", actor=actor, organisation=action.deployment.organisation, target=action
    )
    sign_off_refresh(deployment=action.deployment)
    return action
