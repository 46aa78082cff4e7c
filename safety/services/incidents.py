"""Safety incidents and their journals."""

from datetime import date

from django.core.exceptions import PermissionDenied
from django.db import transaction

from nir_portal.audit.services import audit_event_record
from nir_portal.forms import refused
from nir_portal.mail import messages as mail
from onboarding.models import Deployment
from safety import permissions
from safety.lifecycle.incidents import incident_risk_score
from safety.models import (
    DeploymentHazard,
    IncidentJournalEntry,
    SafetyIncident,
    SignOff,
)


@transaction.atomic
def incident_report(
    *,
    actor,
    deployment: Deployment,
    reference: str,
    reported_on: date,
    summary: str,
    clinical_risk_assessment: str = "",
    system_release: str = "",
    hazards: list[DeploymentHazard] | None = None,
    severity: str = "",
    likelihood: str = "",
) -> SafetyIncident:
    """Record a safety incident. One against a signed-off hazard flags the sign-off for re-review
    and tells the CSO."""
    if not permissions.can_report_incident(actor, deployment):
        raise PermissionDenied("You cannot report incidents for this deployment.")
    hazards = hazards or []
    Deployment.objects.select_for_update().get(pk=deployment.pk)
    if any(h.deployment_id != deployment.pk for h in hazards):
        raise refused("hazards", "Choose hazards from this deployment's log.", "other_deployment")
    incident = SafetyIncident(
        deployment=deployment,
        reference=reference.strip(),
        reporter=actor,
        reported_on=reported_on,
        summary=summary.strip(),
        clinical_risk_assessment=clinical_risk_assessment,
        system_release=system_release,
    )
    incident_risk_score(incident, severity=severity, likelihood=likelihood)
    incident.full_clean()
    incident.save()
    incident.hazards.set(hazards)
    current = SignOff.objects.select_for_update().filter(deployment=deployment, status=SignOff.Status.CURRENT).first()
    signed_numbers = {h["number"] for h in current.snapshot["hazards"]} if current else set()
    flagged = current is not None and any(h.number in signed_numbers for h in hazards)
    if flagged and current is not None:
        current.needs_re_review = True
        current.save(update_fields=["needs_re_review"])
        mail.incident_reported(incident=incident, hazards=hazards)
    audit_event_record(
        action="incident.report",
        actor=actor,
        organisation=deployment.organisation,
        target=incident,
        changes={"hazards": [h.reference for h in hazards], "sign_off_flagged": flagged},
    )
    return incident


@transaction.atomic
def incident_journal_add(
    *,
    actor,
    incident: SafetyIncident,
    text: str,
    made_safe_on: date | None = None,
    closed_on: date | None = None,
    cause: str = "",
) -> IncidentJournalEntry:
    if not permissions.can_report_incident(actor, incident.deployment):
        raise PermissionDenied("You cannot update incidents for this deployment.")
    incident = SafetyIncident.objects.select_for_update().get(pk=incident.pk)
    if not text.strip():
        raise refused("text", "Describe the action taken.", "empty_entry")
    entry = IncidentJournalEntry.objects.create(incident=incident, author=actor, text=text.strip())
    if made_safe_on:
        incident.made_safe_on = made_safe_on
        incident.status = SafetyIncident.Status.MADE_SAFE
    if closed_on:
        if not (cause or incident.cause).strip():
            raise refused("cause", "Record the cause before closing the incident.", "cause_required")
        incident.closed_on = closed_on
        incident.status = SafetyIncident.Status.CLOSED
    if cause:
        incident.cause = cause.strip()
    incident.save()
    audit_event_record(
        action="incident.journal",
        actor=actor,
        organisation=incident.deployment.organisation,
        target=incident,
        changes={"status": incident.status},
    )
    return entry
