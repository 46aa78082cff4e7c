"""The supplier's DCB0129 hazards for a product version; transferred ones enter every deployment's log."""

from django.core.exceptions import PermissionDenied
from django.db import transaction

from nir_portal import events
from nir_portal.audit.services import audit_event_record
from onboarding.models import ProductVersion
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.models import (
    DeploymentHazard,
    SupplierHazard,
)
from safety.services.hazards import hazard_next_number, supplier_hazard_copy_to_log
from safety.services.sign_off import sign_off_refresh


@transaction.atomic
def supplier_hazard_save(
    *,
    actor,
    product_version: ProductVersion,
    code: str,
    name: str,
    description: str,
    clinical_impact: str,
    causes: str,
    supplier_controls: str,
    is_transferred: bool,
    transfer_note: str = "",
    hazard: SupplierHazard | None = None,
) -> SupplierHazard:
    """The supplier CSO keeps the product version's hazards; transferred ones enter every deployment."""
    if not permissions.can_edit_supplier_hazards(actor, product_version):
        raise PermissionDenied("Only the supplier's CSO can change the product's hazards.")
    hazard = hazard or SupplierHazard(product_version=product_version, created_by=actor)
    was_transferred = hazard.pk is not None and hazard.is_transferred
    for field, value in (
        ("code", code),
        ("name", name),
        ("description", description),
        ("clinical_impact", clinical_impact),
        ("causes", causes),
        ("supplier_controls", supplier_controls),
        ("is_transferred", is_transferred),
        ("transfer_note", transfer_note),
    ):
        setattr(hazard, field, value.strip() if isinstance(value, str) else value)
    hazard.full_clean()
    hazard.save()
    if hazard.is_transferred and not was_transferred:
        for deployment in product_version.deployments.select_for_update().order_by("pk"):
            if not DeploymentHazard.objects.filter(deployment=deployment, supplier_hazard=hazard).exists():
                matrix = deployment.risk_plan.risk_matrix
                supplier_hazard_copy_to_log(deployment, hazard, matrix, hazard_next_number(deployment)).save()
                events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
                sign_off_refresh(deployment=deployment, reason=f"Supplier transferred {hazard.code}")
    audit_event_record(
        action="supplier_hazard.save",
        actor=actor,
        organisation=product_version.product.supplier,
        target=hazard,
        changes={"code": hazard.code, "transferred": hazard.is_transferred},
    )
    return hazard
