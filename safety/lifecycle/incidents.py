"""Incidents beyond the trust: risk scored on the deployment's matrix, escalation to the supplier,
an imaging network and the national team, and a product fault confirmed by the supplier reaching
every other deployment of the same product version."""

import json

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from nir_portal import events
from nir_portal.accounts.models import Membership, Organisation, Role
from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from onboarding.models import Deployment, DeploymentNotice
from safety import permissions
from safety.events import SafetyCaseChanged
from safety.lifecycle.mail import notice_queue, people_of, supplier_people
from safety.lifecycle.models import IncidentEscalation
from safety.models import DeploymentHazard, HazardChange, SafetyIncident, SignOff


def incident_risk_score(incident: SafetyIncident, *, severity: str, likelihood: str) -> None:
    """Set the incident's risk from a severity and likelihood on the deployment's risk matrix."""
    if not severity and not likelihood:
        return
    if not severity or not likelihood:
        raise refused("likelihood", "Give both the severity and the likelihood.", "risk_incomplete")
    matrix = incident.deployment.risk_plan.risk_matrix
    try:
        incident.risk_rating = matrix.rating(severity, likelihood)
    except KeyError:
        raise refused("severity", f"{severity}/{likelihood} is not on {matrix}.", "not_on_matrix") from None
    incident.risk_matrix, incident.severity, incident.likelihood = matrix, severity, likelihood


def _national_people() -> list[str]:
    return sorted(
        set(
            Membership.objects.filter(
                organisation__kind=Organisation.Kind.NATIONAL, role__in=(Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN)
            ).values_list("user__email", flat=True)
        )
    )


def safety_content(incident: SafetyIncident) -> str:
    """The incident as the other parties are told it: its safety content only."""
    rating = f"{incident.risk_rating} ({incident.get_severity_display()}, {incident.get_likelihood_display()})"
    return (
        f"Incident {incident.reference} at {incident.deployment.organisation.name}, "
        f"{incident.deployment.product_version}, reported {incident.reported_on:%d %B %Y}.\n"
        f"Risk rating: {rating if incident.risk_rating else 'not scored'}.\n\n{incident.summary}"
    )


@transaction.atomic
def incident_escalate(
    *, actor, incident: SafetyIncident, note: str, network: Organisation | None = None
) -> IncidentEscalation:
    """The trust's CSO escalates an incident to the supplier (its CSO and assurance lead), an
    imaging network and the national team."""
    if not permissions.can_escalate_incident(actor, incident.deployment):
        raise PermissionDenied("Only the deploying organisation's CSO escalates an incident.")
    # Row lock: a second escalation of the same incident waits and is then refused.
    incident = (
        SafetyIncident.objects.select_for_update(of=("self",))
        .select_related("deployment__organisation", "deployment__product_version__product")
        .get(pk=incident.pk)
    )
    if IncidentEscalation.objects.filter(incident=incident).exists():
        raise ValidationError("This incident has already been escalated.", code="already_escalated")
    if network is not None and network.kind != Organisation.Kind.IMAGING_NETWORK:
        raise refused("network", "Choose an imaging network.", "not_network")
    if not note.strip():
        raise refused("note", "Say what you ask of the supplier, the network and the national team.", "note_required")
    escalation = IncidentEscalation.objects.create(
        incident=incident,
        supplier=incident.deployment.product_version.product.supplier,
        network=network,
        note=note.strip(),
        escalated_by=actor,
    )
    audit_event_record(
        action="incident.escalate",
        actor=actor,
        organisation=incident.deployment.organisation,
        target=incident,
        changes={"supplier": escalation.supplier.ods_code, "network": network.ods_code if network else None},
    )
    recipients = supplier_people(escalation.supplier_id) + _national_people()
    if network is not None:
        recipients += sorted(
            set(
                Membership.objects.filter(organisation=network, role__in=(Role.CSO, Role.DEPLOYMENT_LEAD)).values_list(
                    "user__email", flat=True
                )
            )
        )
    notice_queue(
        subject=f"Safety incident {incident.reference} escalated to you",
        body=f"{safety_content(incident)}\n\nWhat the trust asks: {escalation.note}",
        recipients=sorted(set(recipients)),
    )
    return escalation


def _flag_for_re_review(hazard: DeploymentHazard, reason: str, actor) -> None:
    DeploymentHazard.objects.filter(pk=hazard.pk).update(
        needs_re_review=True, re_review_reason=reason, version=F("version") + 1
    )
    HazardChange.objects.create(
        hazard=hazard,
        changed_by=actor,
        summary="Flagged for re-review",
        changes=json.loads(json.dumps({"needs_re_review": [hazard.needs_re_review, True], "reason": [None, reason]})),
    )


@transaction.atomic
def incident_fault_finding_record(*, actor, escalation: IncidentEscalation, finding: str, note: str) -> list[int]:
    """The supplier records whether the incident is a fault of its product. A confirmed fault is
    linked to the product version, and every other deployment of that version gets a notice and
    its matching hazards flagged for re-review. Returns those deployments' ids."""
    if not permissions.can_record_fault_finding(actor, escalation.supplier_id):
        raise PermissionDenied("Only the supplier's CSO or assurance lead records the finding.")
    escalation = (
        IncidentEscalation.objects.select_for_update(of=("self",))
        .select_related("incident__deployment__product_version__product", "incident__deployment__organisation")
        .get(pk=escalation.pk)
    )
    if escalation.finding != IncidentEscalation.Finding.PENDING:
        raise ValidationError("The supplier's finding is already recorded.", code="finding_recorded")
    if finding not in (IncidentEscalation.Finding.PRODUCT_FAULT, IncidentEscalation.Finding.NOT_PRODUCT_FAULT):
        raise refused("finding", "Say whether it is a fault of the product.", "invalid_finding")
    if not note.strip():
        raise refused("note", "Explain the finding.", "note_required")
    incident = escalation.incident
    version = incident.deployment.product_version
    escalation.finding, escalation.finding_note = finding, note.strip()
    escalation.finding_by, escalation.finding_at = actor, timezone.now()
    affected: list[int] = []
    if finding == IncidentEscalation.Finding.PRODUCT_FAULT:
        escalation.product_version = version
        affected = _product_fault_notify(actor=actor, incident=incident, note=escalation.finding_note)
    escalation.save()
    audit_event_record(
        action="incident.fault_finding",
        actor=actor,
        organisation=escalation.supplier,
        target=incident,
        changes={"finding": finding, "product_version": str(version), "deployments_notified": affected},
    )
    return affected


def _product_fault_notify(*, actor, incident: SafetyIncident, note: str) -> list[int]:
    version = incident.deployment.product_version
    linked = list(incident.hazards.select_related("library_hazard", "supplier_hazard"))
    library_codes = {h.library_hazard.code for h in linked if h.library_hazard}
    supplier_codes = {h.supplier_hazard.code for h in linked if h.supplier_hazard}
    reason = f"Product fault in {version} confirmed by the supplier after incident {incident.reference}: {note}"
    # Row locks on every other deployment of the version, in id order (the fixed order).
    others = (
        Deployment.objects.select_for_update(of=("self",))
        .filter(product_version=version)
        .exclude(pk=incident.deployment_id)
        .exclude(stage=Deployment.Stage.DECOMMISSIONED)
        .select_related("organisation")
        .order_by("pk")
    )
    affected = []
    for deployment in others:
        matching = DeploymentHazard.objects.filter(deployment=deployment, is_applicable=True).filter(
            Q(library_hazard__code__in=library_codes) | Q(supplier_hazard__code__in=supplier_codes)
        )
        flagged = []
        for hazard in matching:
            _flag_for_re_review(hazard, reason, actor)
            flagged.append(hazard.reference)
        if flagged:
            SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).update(needs_re_review=True)
        DeploymentNotice.objects.create(
            deployment=deployment,
            kind=DeploymentNotice.Kind.PRODUCT_FAULT,
            title=f"Product fault confirmed in {version}",
            body=f"{reason}" + (f" Hazards flagged for re-review: {', '.join(flagged)}." if flagged else ""),
        )
        events.publish(SafetyCaseChanged(deployment_id=deployment.pk))
        audit_event_record(
            action="deployment.product_fault_notice",
            actor=actor,
            organisation=deployment.organisation,
            target=deployment,
            changes={"incident": incident.pk, "hazards_flagged": flagged},
        )
        notice_queue(
            subject=f"Product fault confirmed in {version}",
            body=f"{reason}\n\nHazards of {deployment.name} flagged for re-review: {', '.join(flagged) or 'none'}.",
            recipients=people_of(deployment, (Role.CSO, Role.DEPLOYMENT_LEAD)),
        )
        affected.append(deployment.pk)
    return affected
