"""Recording that a deployment went live: the deployment lead records the day, once the executive
has authorised go-live of the current case version on the CSO's still-current sign-off. The stage
moves, the case version is live, the stage history and the audit trail say so, and the CSO and
executive approver are told by mail. Every other case is refused, and nothing changes."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts.models import Role
from nir_portal.audit.models import AuditEvent
from nir_portal.mail.models import OutgoingMail
from onboarding.models import CaseVersion, Deployment, DeploymentStageChange
from safety.lifecycle import going_live
from safety.models import GoLiveAuthorisation, SignOff
from tests.lifecycle.helpers import authorise, executive, lead
from tests.onboarding.evidence_fixtures import error_codes


def _record(deployment, actor, went_live_on=None):
    return going_live.deployment_record_live(
        actor=actor, deployment=deployment, went_live_on=went_live_on or timezone.localdate()
    )


def _unchanged(deployment) -> None:
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.GO_LIVE_AUTHORISED
    assert not CaseVersion.objects.filter(deployment=deployment, status=CaseVersion.Status.LIVE).exists()
    assert not AuditEvent.objects.filter(action="deployment.went_live").exists()


def test_the_lead_records_go_live_the_case_is_live_audited_and_the_cso_and_executive_are_told(
    world, safety, people, django_capture_on_commit_callbacks
):
    sign_off, approver = authorise(safety, world)
    deployment = world.deployment_a
    the_lead = lead(world)
    went_live_on = timezone.localdate()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        _record(deployment, the_lead, went_live_on)

    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.LIVE
    case = CaseVersion.objects.get(deployment=deployment, number=1)
    assert case.status == CaseVersion.Status.LIVE and case.live_at is not None
    change = DeploymentStageChange.objects.filter(deployment=deployment).first()
    assert (change.from_stage, change.to_stage, change.changed_by) == (
        Deployment.Stage.GO_LIVE_AUTHORISED,
        Deployment.Stage.LIVE,
        the_lead,
    )
    assert f"{went_live_on:%-d %B %Y}" in change.reason
    event = AuditEvent.objects.get(action="deployment.went_live")
    authorisation = GoLiveAuthorisation.objects.get(sign_off=sign_off)
    assert event.actor == the_lead and event.object_id == str(deployment.pk)
    assert event.changes["went_live_on"] == went_live_on.isoformat()
    assert event.changes["go_live_authorisation"] == authorisation.pk
    assert event.changes["stage"] == [Deployment.Stage.GO_LIVE_AUTHORISED, Deployment.Stage.LIVE]
    queued = OutgoingMail.objects.filter(subject__contains="went live")
    assert sorted(queued.values_list("to", flat=True)) == sorted([safety.cso.email, approver.email])
    told = {address for message in mail.outbox if "went live" in message.subject for address in message.to}
    assert told == {safety.cso.email, approver.email}
    assert the_lead.email not in told and people.a_viewer.email not in told


def test_a_date_before_the_authorisation_or_in_the_future_is_refused(world, safety):
    authorise(safety, world)
    deployment, the_lead = world.deployment_a, lead(world)
    authorised_on = timezone.localdate(GoLiveAuthorisation.objects.get(deployment=deployment).authorised_at)

    with pytest.raises(ValidationError) as future:
        _record(deployment, the_lead, timezone.localdate() + timedelta(days=1))
    with pytest.raises(ValidationError) as before:
        _record(deployment, the_lead, authorised_on - timedelta(days=1))

    assert error_codes(future.value) == {"future"}
    assert error_codes(before.value) == {"before_authorisation"}
    _unchanged(deployment)


def test_a_deployment_not_at_go_live_authorised_is_refused(world, safety):
    deployment = world.deployment_a
    assert deployment.stage == Deployment.Stage.SETUP

    with pytest.raises(ValidationError) as refused:
        _record(deployment, lead(world))

    assert error_codes(refused.value) == {"not_go_live_authorised"}
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.SETUP


def test_recording_it_twice_is_refused(world, safety):
    authorise(safety, world)
    _record(world.deployment_a, lead(world))

    with pytest.raises(ValidationError) as refused:
        _record(world.deployment_a, lead(world))

    assert error_codes(refused.value) == {"not_go_live_authorised"}
    assert AuditEvent.objects.filter(action="deployment.went_live").count() == 1


def test_a_sign_off_superseded_after_the_authorisation_is_refused(world, safety):
    authorise(safety, world)
    deployment = world.deployment_a
    hazard = safety.hazards(deployment)[0]
    safety.update(hazard, description="Changed after go-live was authorised.")
    assert not SignOff.objects.filter(deployment=deployment, status=SignOff.Status.CURRENT).exists()

    with pytest.raises(ValidationError) as refused:
        _record(deployment, lead(world))

    assert error_codes(refused.value) == {"sign_off_superseded"}
    _unchanged(deployment)


def test_a_new_sign_off_without_a_new_authorisation_is_refused(world, safety):
    authorise(safety, world)
    deployment = world.deployment_a
    safety.update(safety.hazards(deployment)[0], description="Changed, then signed off again.")
    safety.sign(deployment)  # current again, but nobody authorised go-live on it

    with pytest.raises(ValidationError) as refused:
        _record(deployment, lead(world))

    assert error_codes(refused.value) == {"sign_off_superseded"}
    _unchanged(deployment)


def test_no_authorisation_of_the_current_case_version_is_refused(world, safety):
    """Go-live authorised on another case version's sign-off does not authorise this one."""
    deployment = world.deployment_a
    safety.make_signable(deployment)
    sign_off = safety.sign(deployment)
    case = CaseVersion.objects.get(deployment=deployment, number=1)
    # Arranged: the stage reached without an authorisation of the case version now being prepared.
    Deployment.objects.filter(pk=deployment.pk).update(stage=Deployment.Stage.GO_LIVE_AUTHORISED)
    assert sign_off.case_version_id == case.pk

    with pytest.raises(ValidationError) as refused:
        _record(deployment, lead(world))

    assert error_codes(refused.value) == {"no_authorisation"}
    _unchanged(deployment)


@pytest.mark.parametrize("person", ["a_cso", "a_viewer", "executive", "b_lead", "reviewer"])
def test_only_the_deployment_lead_records_go_live(world, safety, people, person):
    authorise(safety, world)
    actor = executive(world) if person == "executive" else getattr(people, person)

    with pytest.raises(PermissionDenied):
        _record(world.deployment_a, actor)

    _unchanged(world.deployment_a)


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_page_records_it_and_says_what_happens_next(world, safety, people):
    authorise(safety, world)
    deployment = world.deployment_a
    client = _client(world.member(world.trust_a, Role.DEPLOYMENT_LEAD))
    detail = client.get(deployment.get_absolute_url()).content.decode()
    url = reverse("safety:go-live-record", kwargs={"pk": deployment.pk})
    assert url in detail, "the lead sees the button once go-live is authorised"
    for role in (Role.CSO, Role.VIEWER, Role.EXECUTIVE_APPROVER):
        other = _client(world.member(world.trust_a, role)).get(deployment.get_absolute_url())
        assert other.status_code == 200 and url not in other.content.decode()

    today = timezone.localdate()
    refused = client.post(
        url, {"went_live_on_day": "1", "went_live_on_month": "1", "went_live_on_year": str(today.year + 1)}
    )
    assert refused.status_code == 200 and "must be today or in the past" in refused.content.decode()
    response = client.post(
        url,
        {
            "went_live_on_day": str(today.day),
            "went_live_on_month": str(today.month),
            "went_live_on_year": str(today.year),
        },
        follow=True,
    )

    body = response.content.decode()
    assert response.redirect_chain[-1][0] == deployment.get_absolute_url()
    assert f"is recorded as live since {today:%-d %B %Y}" in body
    assert 'data-testid="what-happens-next"' in body
    assert url not in body, "nothing more to record"
    deployment.refresh_from_db()
    assert deployment.stage == Deployment.Stage.LIVE


def test_the_page_before_authorisation_says_why_and_offers_no_form(world, safety):
    client = _client(world.member(world.trust_a, Role.DEPLOYMENT_LEAD))
    response = client.get(reverse("safety:go-live-record", kwargs={"pk": world.deployment_a.pk}))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="go-live-refusal"' in body and "<form method" not in body


def test_another_trusts_lead_gets_404_and_a_member_without_the_role_the_403_naming_it(world, safety, people):
    authorise(safety, world)
    url = reverse("safety:go-live-record", kwargs={"pk": world.deployment_a.pk})

    outsider = _client(world.member(world.trust_b, Role.DEPLOYMENT_LEAD)).get(url)
    insider = _client(world.member(world.trust_a, Role.CSO)).post(url, {})

    assert outsider.status_code == 404
    assert insider.status_code == 403
    assert "Only the Deployment lead can" in insider.content.decode()
