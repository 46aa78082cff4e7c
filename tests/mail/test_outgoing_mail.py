"""Mail is written with the action and sent by a worker: an SMTP outage never fails the action,
a failed send is retried with backoff and can be re-sent, and a message is sent once."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Membership, Role, User
from nir_portal.audit.models import AuditEvent
from nir_portal.mail import services as mail_services
from nir_portal.mail.models import OutgoingMail
from nir_portal.mail.tasks import mail_send, mail_send_stalled
from tests.mail.helpers import REMOTE_REFERENCE, assert_plain_and_html, only_message_to, sent_to

# A real SMTP connection to a port where nothing listens: the outage as a worker meets it.
UNREACHABLE_SMTP = {
    "default": {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "127.0.0.1", "port": 9, "timeout": 2},
    }
}
WORKING = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def invite(world, lead, email="new.person@test.nhs.uk"):
    return account_services.user_invite(
        actor=lead, organisation=world.trust_a, email=email, full_name="New Person", role=Role.VIEWER
    )


@pytest.fixture
def lead(world):
    return world.member(world.trust_a, Role.DEPLOYMENT_LEAD)


# --- An outage does not fail the action ------------------------------------------------------------


def test_an_invitation_saved_during_an_smtp_outage_is_kept_and_the_page_does_not_fail(
    world, lead, signed_in, settings, django_capture_on_commit_callbacks
):
    settings.MAILERS = UNREACHABLE_SMTP
    settings.MAIL_MAX_ATTEMPTS = 3
    client = signed_in(lead)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:member-invite", args=[world.trust_a.pk]),
            {"email": "new.person@test.nhs.uk", "full_name": "New Person", "role": Role.VIEWER},
        )

    assert response.status_code == 302
    assert Membership.objects.filter(user__email="new.person@test.nhs.uk", organisation=world.trust_a).exists()
    (row,) = OutgoingMail.objects.filter(template="invitation")
    # The eager task retried at once until it gave up; a worker would have waited between attempts.
    assert (row.status, row.attempts) == (OutgoingMail.Status.FAILED, 3)
    assert "ConnectionRefusedError" in row.last_error
    assert mail.outbox == []
    failed = AuditEvent.objects.get(action="mail.failed")
    assert failed.changes["to"] == "new.person@test.nhs.uk"


def test_an_invitation_that_could_not_be_sent_is_re_sent_by_the_lead_with_a_working_link(
    world, lead, signed_in, settings, django_capture_on_commit_callbacks, client
):
    settings.MAILERS = UNREACHABLE_SMTP
    settings.MAIL_MAX_ATTEMPTS = 1
    with django_capture_on_commit_callbacks(execute=True):
        membership = invite(world, lead)
    assert OutgoingMail.objects.get().status == OutgoingMail.Status.FAILED

    settings.MAILERS = WORKING
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(lead).post(reverse("accounts:membership-invitation-resend", args=[membership.pk]))

    assert response.status_code == 302
    message = only_message_to("new.person@test.nhs.uk")
    assert "/accounts/password/reset/key/" in message.body
    assert_plain_and_html(message)
    event = AuditEvent.objects.get(action="membership.invitation_resend")
    assert (event.actor, event.organisation) == (lead, world.trust_a)
    # The link in the re-sent message lets the person set a password.
    link = next(line for line in message.body.splitlines() if "/accounts/password/reset/key/" in line)
    client.logout()
    page = client.get(link[link.index("/accounts/") :].strip(), follow=True)
    response = client.post(
        page.redirect_chain[-1][0], {"password1": "A-long-new-passphrase-1", "password2": "A-long-new-passphrase-1"}
    )
    assert response.status_code == 302
    assert User.objects.get(email="new.person@test.nhs.uk").has_usable_password()


def test_someone_who_cannot_manage_the_organisation_cannot_re_send_its_invitations(world, lead):
    membership = invite(world, lead)
    viewer = world.member(world.trust_b, Role.DEPLOYMENT_LEAD)

    with pytest.raises(mail_services.PermissionDenied):
        account_services.invitation_resend(actor=viewer, membership=membership)


# --- Sending: once, with backoff, and swept up -------------------------------------------------------


def test_a_message_is_sent_once_however_often_its_task_runs(world, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(world, lead)
    row = OutgoingMail.objects.get()

    assert mail_send.apply(args=[row.pk]).get() == mail_services.SKIPPED

    assert len(sent_to("new.person@test.nhs.uk")) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutgoingMail.Status.SENT, 1)
    assert row.sent_at is not None


def test_nothing_is_sent_before_the_action_commits(world, lead):
    invite(world, lead)  # the test's transaction never commits

    assert mail.outbox == []
    assert OutgoingMail.objects.get().status == OutgoingMail.Status.PENDING


def test_a_failed_attempt_is_retried_later_with_growing_delays(world, lead, settings):
    invite(world, lead)
    row = OutgoingMail.objects.get()
    settings.MAILERS = UNREACHABLE_SMTP

    before = timezone.now()
    outcomes = [mail_services.mail_deliver(mail_id=row.pk) for _ in range(3)]

    row.refresh_from_db()
    assert outcomes == [mail_services.RETRY] * 3
    assert (row.status, row.attempts) == (OutgoingMail.Status.PENDING, 3)
    assert timedelta(minutes=4) <= row.next_attempt_at - before < timedelta(minutes=5)
    assert [mail_services.retry_delay_seconds(n) for n in (1, 2, 3, 7, 20)] == [60, 120, 240, 3600, 3600]

    settings.MAILERS = WORKING
    assert mail_services.mail_deliver(mail_id=row.pk) == mail_services.SENT
    assert len(sent_to("new.person@test.nhs.uk")) == 1


def test_a_message_whose_task_was_lost_is_sent_by_the_sweep(world, lead):
    invite(world, lead)  # queued, but its task never ran
    row = OutgoingMail.objects.get()
    assert mail_send_stalled.apply().get() == 0  # not overdue yet

    OutgoingMail.objects.filter(pk=row.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=11))

    assert mail_send_stalled.apply().get() == 1
    assert len(sent_to("new.person@test.nhs.uk")) == 1


def test_the_national_admin_re_sends_any_message_as_a_new_record(world, lead, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(world, lead)
    original = OutgoingMail.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        copy = mail_services.mail_resend(actor=world.national_admin, mail=original)

    assert copy.resent_from == original
    assert len(sent_to("new.person@test.nhs.uk")) == 2
    original.refresh_from_db()
    assert original.attempts == 1
    assert AuditEvent.objects.get(action="mail.resend").changes["resent_from"] == original.pk


def test_each_recipient_gets_a_copy_of_their_own(world):
    rows = mail_services.mail_queue(
        template="reviewer_digest",
        to=["B@test.nhs.uk", "a@test.nhs.uk", "b@test.nhs.uk", ""],
        subject="s",
        context={"items": []},
    )

    assert [row.to for row in rows] == ["a@test.nhs.uk", "b@test.nhs.uk"]


def test_the_remote_asset_check_would_catch_a_remote_image():
    assert REMOTE_REFERENCE.search('<img src="https://assets.nhs.uk/logo.png">')
    assert REMOTE_REFERENCE.search("<link rel=stylesheet href=x>")
    assert not REMOTE_REFERENCE.search('<a href="https://portal.example/evidence/1/">View</a>')
