"""A live deployment whose sign-off is superseded is marked out of date, its people are told, and
a person decides what happens: nothing is suspended automatically."""

import time

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from nir_portal.audit.models import AuditEvent
from onboarding.models import Deployment, DeploymentNotice
from safety.lifecycle import supersession
from safety.lifecycle.models import LiveCaseDecision
from tests.lifecycle.helpers import take_live
from tests.onboarding.evidence_fixtures import error_codes


def test_superseding_a_live_sign_off_marks_the_case_out_of_date_and_tells_the_cso_lead_and_approver(
    safety, world, people, django_capture_on_commit_callbacks, settings
):
    _, approver = take_live(safety, world)
    lead = people.a_lead

    with django_capture_on_commit_callbacks(execute=True):
        safety.update(safety.hazards()[0], operating_limits="Only with the RIS link monitored hourly.")

    deployment = Deployment.objects.get(pk=world.deployment_a.pk)
    assert deployment.safety_case_out_of_date_since is not None
    assert deployment.stage == Deployment.Stage.LIVE, "nothing is suspended automatically"
    assert DeploymentNotice.objects.filter(deployment=deployment, kind="case_out_of_date", resolved_at=None).exists()
    assert AuditEvent.objects.filter(action="deployment.case_out_of_date", object_id=str(deployment.pk)).exists()
    notices = [m for m in mail.outbox if "Safety case out of date" in m.subject]
    told = [address for m in notices for address in m.to]
    assert len(told) == len(set(told)), "each person is told once"
    assert {safety.cso.email, lead.email, approver.email} <= set(told)


def test_a_deployment_not_yet_live_is_not_marked_out_of_date(safety, world):
    safety.make_signable()
    safety.sign()

    safety.update(safety.hazards()[0], operating_limits="Changed before go-live.")

    assert Deployment.objects.get(pk=world.deployment_a.pk).safety_case_out_of_date_since is None


def test_the_executive_decides_to_continue_with_a_justification_and_it_is_audited(safety, world):
    _, approver = take_live(safety, world)
    safety.update(safety.hazards()[0], operating_limits="Changed while live.")

    with pytest.raises(ValidationError) as refused:
        supersession.live_case_decide(
            actor=approver,
            deployment=world.deployment_a,
            decision="continue",
            justification=" ",
            mfa_verified_at=time.time(),
        )
    assert error_codes(refused.value) == {"justification_required"}

    decision = supersession.live_case_decide(
        actor=approver,
        deployment=world.deployment_a,
        decision="continue",
        justification="The change tightens an operating limit; the CSO re-signs this week.",
        mfa_verified_at=time.time(),
    )

    assert decision.decision == LiveCaseDecision.Decision.CONTINUE
    assert Deployment.objects.get(pk=world.deployment_a.pk).stage == Deployment.Stage.LIVE
    event = AuditEvent.objects.get(action="deployment.live_case_decision")
    assert event.changes["decision"] == "continue" and "re-signs" in event.changes["justification"]


def test_the_cso_may_suspend_and_the_suspension_is_recorded_as_a_stage_change(safety, world):
    take_live(safety, world)
    safety.update(safety.hazards()[0], operating_limits="Changed while live.")

    supersession.live_case_decide(
        actor=safety.cso,
        deployment=world.deployment_a,
        decision="suspend",
        justification="Unsafe until re-signed.",
        mfa_verified_at=time.time(),
    )

    deployment = Deployment.objects.get(pk=world.deployment_a.pk)
    assert deployment.stage == Deployment.Stage.SUSPENDED
    assert "Unsafe until re-signed" in deployment.stage_changes.first().reason


def test_only_the_cso_or_executive_decides_and_only_when_out_of_date(safety, world, people):
    _, approver = take_live(safety, world)
    with pytest.raises(ValidationError) as refused:
        supersession.live_case_decide(
            actor=approver,
            deployment=world.deployment_a,
            decision="continue",
            justification="x",
            mfa_verified_at=time.time(),
        )
    assert error_codes(refused.value) == {"not_out_of_date"}

    safety.update(safety.hazards()[0], operating_limits="Changed while live.")
    with pytest.raises(PermissionDenied):
        supersession.live_case_decide(
            actor=people.a_viewer,
            deployment=world.deployment_a,
            decision="suspend",
            justification="x",
            mfa_verified_at=time.time(),
        )
    assert not LiveCaseDecision.objects.exists()


def test_a_new_sign_off_and_go_live_authorisation_bring_the_case_up_to_date_and_keep_it_live(safety, world):
    _, approver = take_live(safety, world)
    safety.update(safety.hazards()[0], operating_limits="Changed while live.")

    safety.sign()
    from safety.services.go_live import go_live_authorise

    go_live_authorise(
        actor=approver, deployment=world.deployment_a, statement="Accepted again.", mfa_verified_at=time.time()
    )

    deployment = Deployment.objects.get(pk=world.deployment_a.pk)
    assert deployment.safety_case_out_of_date_since is None
    assert deployment.stage == Deployment.Stage.LIVE
    assert not DeploymentNotice.objects.filter(
        deployment=deployment, kind="case_out_of_date", resolved_at=None
    ).exists()


def test_the_decision_binds_its_maker_so_it_needs_a_fresh_authenticator_check(safety, world):
    _, approver = take_live(safety, world)
    safety.update(safety.hazards()[0], operating_limits="Changed while live.")

    with pytest.raises(ValidationError) as refused:
        supersession.live_case_decide(
            actor=approver,
            deployment=world.deployment_a,
            decision="continue",
            justification="Continue.",
            mfa_verified_at=time.time() - 3600,
        )

    assert error_codes(refused.value) == {"reauthentication_required"}
    assert not LiveCaseDecision.objects.exists()
