"""The uploader hears of a review decision: accepted, or returned with the reviewer's comment."""

from django.core import mail

from onboarding.models import Review
from onboarding.services.evidence.contributions import evidence_revise
from tests.mail.helpers import assert_plain_and_html, only_message_to
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import *  # noqa: F403 - pytest finds the shared fixtures by name


def test_the_uploader_is_told_their_evidence_was_accepted(world, people, django_capture_on_commit_callbacks):
    dpia = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], title="Trust A DPIA")
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        fx.decide(people.reviewer, dpia, world.deployment_a)

    message = only_message_to(people.a_contributor.email)
    assert message.subject == "Accepted: Trust A DPIA for Trust A NIR"
    assert f'accepted revision 1 of "Trust A DPIA" for {world.deployment_a.name}' in message.body
    assert f"/evidence/{dpia.pk}/" in message.body
    html = assert_plain_and_html(message)
    assert "<strong>Trust A DPIA</strong>" in html
    assert len(mail.outbox) == 1  # nobody else


def test_the_uploader_gets_the_reviewers_comment_when_changes_are_requested(
    world, people, django_capture_on_commit_callbacks
):
    dpia = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], title="Trust A DPIA")
    comment = "Section 4 names the wrong data controller <Trust B>; correct it and re-upload."
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        fx.decide(people.reviewer, dpia, world.deployment_a, decision=Review.Decision.REQUEST_CHANGES, comment=comment)

    message = only_message_to(people.a_contributor.email)
    assert message.subject == "Changes requested: Trust A DPIA for Trust A NIR"
    assert comment in message.body  # plain text is not HTML-escaped
    html = assert_plain_and_html(message)
    assert "wrong data controller &lt;Trust B&gt;" in html


def test_the_uploader_of_the_reviewed_revision_is_told_not_the_first_uploader(
    world, people, django_capture_on_commit_callbacks
):
    dpia = fx.trust_evidence(people.a_contributor, world.deployment_a, ["GOV-03"], title="Trust A DPIA")
    fx.decide(people.reviewer, dpia, world.deployment_a, decision=Review.Decision.REQUEST_CHANGES, comment="Redo")
    evidence_revise(
        actor=people.a_lead,
        evidence=dpia,
        statement="Corrected.",
        effective_date=fx.EFFECTIVE,
        files=[],
        based_on_revision=1,
    )
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        fx.decide(people.reviewer, dpia, world.deployment_a)

    message = only_message_to(people.a_lead.email)
    assert "accepted revision 2" in message.body
    assert not [m for m in mail.outbox if m.to == [people.a_contributor.email]]
