"""Incidents scored on the deployment's matrix, escalated beyond the trust, and a product fault
reaching every other deployment of the same version."""

from datetime import date

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from nir_portal.accounts.models import Organisation, Role
from nir_portal.audit.models import AuditEvent
from onboarding.models import DeploymentNotice
from safety.lifecycle import incidents
from safety.lifecycle.models import IncidentEscalation
from safety.models import DeploymentHazard, SafetyIncident, SignOff
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_blockers
from tests import factories
from tests.lifecycle.helpers import sign_other
from tests.onboarding.evidence_fixtures import error_codes


def _incident(world, people, safety, **fields):
    hazard = DeploymentHazard.objects.get(deployment=world.deployment_a, library_hazard__code="NIR-02")
    return incident_report(
        actor=people.a_lead,
        deployment=world.deployment_a,
        reference="INC-42",
        reported_on=date(2026, 11, 20),
        summary="A source network timed out and the history looked complete.",
        hazards=[hazard],
        **fields,
    )


def test_incident_risk_is_looked_up_on_the_deployments_matrix(safety, world, people):
    incident = _incident(world, people, safety, severity="major", likelihood="medium")

    matrix = world.deployment_a.risk_plan.risk_matrix
    assert incident.risk_rating == matrix.rating("major", "medium") == 3
    assert incident.risk_matrix_id == matrix.pk


@pytest.mark.parametrize(
    ("severity", "likelihood", "code"), [("major", "", "risk_incomplete"), ("fatal", "high", "not_on_matrix")]
)
def test_an_incomplete_or_unknown_risk_is_refused(safety, world, people, severity, likelihood, code):
    with pytest.raises(ValidationError) as refused:
        _incident(world, people, safety, severity=severity, likelihood=likelihood)

    assert error_codes(refused.value) == {code}
    assert not SafetyIncident.objects.exists()


def test_the_cso_escalates_to_the_supplier_network_and_national_team_with_safety_content_only(
    safety, world, people, django_capture_on_commit_callbacks
):
    network = factories.OrganisationFactory(kind=Organisation.Kind.IMAGING_NETWORK, name="North network")
    network_cso = factories.member(network, Role.CSO)
    told = {people.supplier_cso.email, network_cso.email, people.reviewer.email}
    incident = _incident(world, people, safety, severity="major", likelihood="medium")

    with django_capture_on_commit_callbacks(execute=True):
        escalation = incidents.incident_escalate(
            actor=safety.cso, incident=incident, network=network, note="Please check the timeout handling."
        )

    assert escalation.supplier == world.supplier
    sent = [m for m in mail.outbox if "escalated" in m.subject]
    recipients = {address for m in sent for address in m.to}
    assert told <= recipients and len(sent) == len(recipients)
    assert safety.cso.email not in recipients
    assert all("Risk rating: 3" in m.body and people.a_lead.email not in m.body for m in sent)
    assert AuditEvent.objects.filter(action="incident.escalate").exists()


def test_only_the_trusts_cso_escalates_and_only_once(safety, world, people):
    incident = _incident(world, people, safety)
    with pytest.raises(PermissionDenied):
        incidents.incident_escalate(actor=people.a_lead, incident=incident, note="x")

    incidents.incident_escalate(actor=safety.cso, incident=incident, note="Please look.")
    with pytest.raises(ValidationError) as refused:
        incidents.incident_escalate(actor=safety.cso, incident=incident, note="Again.")
    assert error_codes(refused.value) == {"already_escalated"}


def test_a_confirmed_product_fault_flags_the_matching_hazard_at_every_other_deployment_of_the_version(
    safety, world, people
):
    sign_other(safety, world.deployment_b, people.b_cso)
    incident = _incident(world, people, safety, severity="major", likelihood="medium")
    escalation = incidents.incident_escalate(actor=safety.cso, incident=incident, note="Please check.")

    affected = incidents.incident_fault_finding_record(
        actor=people.supplier_cso, escalation=escalation, finding="product_fault", note="Timeout handling defect."
    )

    escalation.refresh_from_db()
    assert escalation.product_version == world.product_version
    assert affected == [world.deployment_b.pk]
    flagged = DeploymentHazard.objects.get(deployment=world.deployment_b, library_hazard__code="NIR-02")
    assert flagged.needs_re_review and "INC-42" in flagged.re_review_reason
    others = DeploymentHazard.objects.filter(deployment=world.deployment_b, needs_re_review=True)
    assert list(others) == [flagged]
    assert SignOff.objects.get(deployment=world.deployment_b, status="current").needs_re_review
    assert DeploymentNotice.objects.filter(deployment=world.deployment_b, kind="product_fault").exists()
    assert not DeploymentNotice.objects.filter(deployment=world.deployment_a).exists()
    assert "needs re-review" in " ".join(sign_off_blockers(world.deployment_b))


def test_only_the_supplier_records_the_finding_and_not_a_fault_flags_nothing(safety, world, people):
    incident = _incident(world, people, safety)
    escalation = incidents.incident_escalate(actor=safety.cso, incident=incident, note="Please check.")
    with pytest.raises(PermissionDenied):  # another supplier's lead
        incidents.incident_fault_finding_record(
            actor=people.other_supplier_lead, escalation=escalation, finding="product_fault", note="x"
        )

    incidents.incident_fault_finding_record(
        actor=people.supplier_cso, escalation=escalation, finding="not_product_fault", note="Local network outage."
    )

    assert IncidentEscalation.objects.get().finding == "not_product_fault"
    assert not DeploymentHazard.objects.filter(needs_re_review=True).exists()
