"""The CSO hears when a sign-off is superseded and what changed; the deployment leads and the
national team hear when go-live is authorised; CSOs hear of an incident against a signed hazard."""

import time
from datetime import date

from django.core import mail
from django.utils.html import escape

from nir_portal.accounts.models import Role
from safety.services.go_live import go_live_authorise
from safety.services.incidents import incident_report
from safety.services.sign_off import sign_off_refresh
from tests import factories
from tests.mail.helpers import assert_plain_and_html, only_message_to, sent_to


def test_the_cso_is_told_their_sign_off_was_superseded_and_what_changed(
    safety, world, django_capture_on_commit_callbacks
):
    safety.make_signable()
    sign_off = safety.sign()
    factories.ready_for_go_live(world.deployment_a)
    hazard = safety.hazards()[0]
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        safety.update(hazard, operating_limits="Only with the RIS interface monitored hourly.")

    sign_off.refresh_from_db()
    assert sign_off.superseded_changes
    message = only_message_to(safety.cso.email)
    assert message.subject == f"Your sign-off of the hazard log of {world.deployment_a.name} has been superseded"
    for change in sign_off.superseded_changes:
        assert f"- {change}" in message.body
    assert f"/sign-offs/{sign_off.pk}/" in message.body
    html = assert_plain_and_html(message)
    assert f'<li style="margin:0 0 8px 0;">{escape(sign_off.superseded_changes[0])}</li>' in html


def test_a_change_that_leaves_the_signed_content_alone_sends_nothing(safety, world, django_capture_on_commit_callbacks):
    safety.make_signable()
    safety.sign()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        sign_off_refresh(deployment=world.deployment_a)

    assert mail.outbox == []


def test_go_live_is_announced_to_the_deployment_leads_and_the_national_team(
    safety, world, people, django_capture_on_commit_callbacks
):
    approver = factories.member(world.trust_a, Role.EXECUTIVE_APPROVER, mfa=False)
    leads = {people.a_lead.email}
    national = {world.national_admin.email, people.reviewer.email}
    bystanders = {people.a_contributor.email, people.b_lead.email, people.supplier_lead.email}
    safety.make_signable()
    sign_off = safety.sign()
    factories.ready_for_go_live(world.deployment_a)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        go_live_authorise(
            actor=approver,
            deployment=world.deployment_a,
            statement="I accept the residual risk.",
            mfa_verified_at=time.time(),
        )

    recipients = {m.to[0] for m in mail.outbox}
    assert recipients == leads | national
    assert not recipients & bystanders
    message = only_message_to(people.a_lead.email)
    assert message.subject == f"Go-live authorised: {world.deployment_a.name} ({world.trust_a.name})"
    assert "I accept the residual risk." in message.body
    assert sign_off.snapshot_sha256 in message.body
    assert_plain_and_html(message)


def test_an_incident_notice_is_sent_to_each_cso_with_both_parts(
    safety, world, people, django_capture_on_commit_callbacks
):
    safety.make_signable()
    safety.sign()
    hazard = safety.hazards()[4]
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        incident = incident_report(
            actor=people.a_lead,
            deployment=world.deployment_a,
            reference="INC-2026-041",
            reported_on=date(2026, 11, 20),
            summary="Report attached to the wrong patient's prior study.",
            hazards=[hazard],
        )

    message = only_message_to(safety.cso.email)
    assert "20 November 2026" in message.body and hazard.reference in message.body
    assert f"/incidents/{incident.pk}/" in message.body
    assert_plain_and_html(message)
    assert sent_to(people.a_lead.email) == []
