"""Setting up a first authenticator only through the invitation's link or an enrolment link sent to
the account's verified address, and the recovery path: an admin resets a lost authenticator."""

import re
import time
from datetime import timedelta

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.contrib.auth import SESSION_KEY
from django.core import mail as django_mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from nir_portal.accounts import enrolment, services
from nir_portal.accounts.models import EnrolmentLink, Membership, Role
from nir_portal.accounts.models import UserSession as Session
from nir_portal.audit.models import AuditEvent
from nir_portal.mail.models import OutgoingMail
from nir_portal.mail.services import mail_render
from tests import factories
from tests.accounts.test_sign_in import (
    NEW_PASSWORD,
    fresh_totp_code,
    give_enrolment_grant,
    post_password,
    signed_in_user_id,
)
from tests.conftest import mark_mfa

NEEDED = reverse("enrolment_needed")
ACTIVATE = reverse("mfa_activate_totp")
CODES = reverse("mfa_view_recovery_codes")


def link_in(message) -> str:
    return re.search(r"https?://[^/\s]+(/accounts/enrolment/\S+/)", message.body).group(1)


def enrolment_mails_to(address: str) -> list:
    """The enrolment-link messages queued for `address`, rendered as the worker sends them."""
    queued = OutgoingMail.objects.filter(template="enrolment_link", to=address).order_by("pk")
    return [mail_render(row) for row in queued]


def ask_for_a_link(client):
    return client.post(NEEDED)


def activate_totp(client):
    page = client.get(ACTIVATE)
    assert page.status_code == 200
    return client.post(ACTIVATE, {"code": fresh_totp_code(client.session[SECRET_SESSION_KEY])})


# --- The invitation -------------------------------------------------------------------------------


def test_an_invitee_sets_a_password_from_the_invitation_and_goes_straight_on_to_enrol(world, client):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    services.user_invite(
        actor=lead, organisation=world.trust_a, email="new.person@test.nhs.uk", full_name="New Person", role=Role.CSO
    )
    invitation = mail_render(OutgoingMail.objects.get(template="invitation", to="new.person@test.nhs.uk"))
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", invitation.body).group(1)

    form = client.get(link, follow=True)
    set_password = form.redirect_chain[-1][0]
    assert '<h1 class="nhsuk-heading-l">Choose your password</h1>' in form.content.decode()
    assert ">Set password</button>" in form.content.decode()
    response = client.post(set_password, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True)

    person = Membership.objects.get(user__email="new.person@test.nhs.uk").user
    assert signed_in_user_id(client) == str(person.pk)
    assert response.resolver_match.url_name == "mfa_activate_totp"
    done = activate_totp(client)
    assert done.status_code == 302 and done.url.startswith(CODES)
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()
    assert client.get(reverse("home")).status_code == 200


def test_a_password_reset_link_used_by_someone_enrolled_signs_nobody_in(world, client):
    # Someone who has an authenticator signs in as usual afterwards, with a code.
    user = world.member(world.trust_a, Role.VIEWER)
    client.post(reverse("account_reset_password"), {"email": user.email})
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", django_mail.outbox[-1].body).group(1)
    form = client.get(link, follow=True)
    set_password = form.redirect_chain[-1][0]
    assert "Choose a new password</h1>" in form.content.decode()  # a reset changes a password

    client.post(set_password, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})

    assert signed_in_user_id(client) is None
    assert enrolment.GRANT_SESSION_KEY not in client.session


# --- Asking for an enrolment link -------------------------------------------------------------------


def test_asking_for_a_link_queues_one_message_to_the_verified_address_and_audits(
    world, client, django_capture_on_commit_callbacks
):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)

    with django_capture_on_commit_callbacks(execute=True):
        response = ask_for_a_link(client)

    assert response.status_code == 302 and response.url == NEEDED
    [queued] = OutgoingMail.objects.filter(template="enrolment_link")
    assert queued.to == user.email
    [message] = [m for m in django_mail.outbox if m.to == [user.email]]
    assert OutgoingMail.objects.get(pk=queued.pk).status == OutgoingMail.Status.SENT
    token = link_in(message).rstrip("/").rsplit("/", 1)[1]
    assert token not in str(queued.context)  # the link is signed when sent, never stored
    assert AuditEvent.objects.filter(action="enrolment_link.issue", object_id=str(queued.object_id)).exists()
    assert AuditEvent.objects.filter(action="enrolment_link.request", actor=user, outcome="success").exists()


def test_asking_again_within_minutes_sends_nothing_and_says_the_same(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    first = client.get(ask_for_a_link(client).url).content.decode()

    second = client.get(ask_for_a_link(client).url).content.decode()

    assert OutgoingMail.objects.filter(template="enrolment_link").count() == 1
    assert "a link to set up your authenticator is on its way" in first
    assert "a link to set up your authenticator is on its way" in second
    assert user.email not in second
    assert AuditEvent.objects.filter(action="enrolment_link.request", outcome="denied").count() == 1


def test_after_the_interval_a_new_link_replaces_the_old(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    ask_for_a_link(client)
    old_link = link_in(enrolment_mails_to(user.email)[0])
    EnrolmentLink.objects.update(created_at=timezone.now() - timedelta(seconds=enrolment.LINK_REQUEST_INTERVAL_SECONDS))

    ask_for_a_link(client)

    assert OutgoingMail.objects.filter(template="enrolment_link").count() == 2
    assert client.post(old_link).status_code == 410
    new_link = link_in(enrolment_mails_to(user.email)[-1])
    assert client.post(new_link).url == ACTIVATE


def test_asking_without_a_verified_address_sends_nothing(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    user.emailaddress_set.update(verified=False)
    post_password(client, user.email)

    response = client.get(ask_for_a_link(client).url)

    assert "is on its way" in response.content.decode()
    assert not OutgoingMail.objects.filter(template="enrolment_link").exists()


# --- Using an enrolment link --------------------------------------------------------------------------


@pytest.fixture
def linked(world, client):
    """A person without an authenticator, signed in with their password, who asked for a link."""
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    ask_for_a_link(client)
    return user, link_in(enrolment_mails_to(user.email)[0])


def test_the_link_opens_the_set_up_once(linked, client):
    user, link = linked
    assert client.get(link).status_code == 200  # opening it (a mail scanner might) spends nothing
    assert client.get(ACTIVATE).url == NEEDED

    used = client.post(link)

    assert used.status_code == 302 and used.url == ACTIVATE
    assert activate_totp(client).status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert AuditEvent.objects.filter(action="enrolment_link.use", actor=user, outcome="success").exists()


def test_a_used_link_is_refused(linked, client):
    _user, link = linked
    client.post(link)

    again = Client()
    again.post(reverse("account_login"), {"login": linked[0].email, "password": factories.PASSWORD})
    response = again.post(link)

    assert response.status_code == 410
    assert "already been used" in response.content.decode()
    assert again.get(ACTIVATE).url == NEEDED


def test_an_expired_link_is_refused(linked, client):
    _user, link = linked
    EnrolmentLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = client.post(link)

    assert response.status_code == 410
    assert "expired" in response.content.decode()
    assert client.get(ACTIVATE).url == NEEDED


def test_a_link_whose_signature_is_too_old_is_refused(linked, client, monkeypatch):
    _user, link = linked
    later = time.time() + enrolment.LINK_VALID_SECONDS + 60
    monkeypatch.setattr(time, "time", lambda: later)

    assert enrolment.link_token_read(link.rstrip("/").rsplit("/", 1)[1]) is None


def test_a_tampered_link_is_refused(linked, client):
    _user, link = linked

    response = client.post(link[:-3] + "xx/")

    assert response.status_code == 410
    assert client.get(ACTIVATE).url == NEEDED


def test_a_link_opened_by_another_signed_in_person_is_refused_and_stays_unused(linked, world):
    _user, link = linked
    other = world.member(world.trust_a, Role.VIEWER, mfa=False)
    intruder = Client()
    intruder.post(reverse("account_login"), {"login": other.email, "password": factories.PASSWORD})

    response = intruder.post(link)

    assert response.status_code == 403
    assert "different account" in response.content.decode()
    assert intruder.get(ACTIVATE).url == NEEDED
    assert EnrolmentLink.objects.get().used_at is None
    assert AuditEvent.objects.filter(action="enrolment_link.use", outcome="denied", actor=other).exists()


def test_a_link_is_refused_once_an_authenticator_is_set_up(linked, client):
    user, link = linked
    factories.enrol_totp(user)

    response = client.post(link)

    assert response.status_code == 200
    assert "already been set up" in response.content.decode()
    assert EnrolmentLink.objects.get().used_at is None


def test_a_link_opened_before_signing_in_opens_the_set_up_after_the_password(world):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    services.enrolment_link_for_bootstrap(user=user)
    link = enrolment.link_path(EnrolmentLink.objects.get())
    browser = Client()

    used = browser.post(link)
    assert used.status_code == 302 and used.url.startswith(reverse("account_login"))
    signed_in = browser.post(used.url, {"login": user.email, "password": factories.PASSWORD})

    assert signed_in.status_code == 302 and signed_in.url == ACTIVATE
    assert activate_totp(browser).status_code == 302


def test_a_link_opened_before_signing_in_as_someone_else_gives_them_nothing(world):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    other = world.member(world.trust_a, Role.VIEWER, mfa=False)
    services.enrolment_link_for_bootstrap(user=user)
    browser = Client()
    browser.post(enrolment.link_path(EnrolmentLink.objects.get()))

    browser.post(reverse("account_login"), {"login": other.email, "password": factories.PASSWORD})

    assert browser.get(ACTIVATE).url == NEEDED


# --- Recovery codes are shown once -------------------------------------------------------------------


def test_recovery_codes_are_shown_once_then_only_counted(world, client):
    user = world.member(world.trust_a, Role.VIEWER, mfa=False)
    post_password(client, user.email)
    give_enrolment_grant(client, user)
    done = activate_totp(client)

    first = client.get(done.url).content.decode()
    later = client.get(CODES).content.decode()

    assert first.count('class="portal-code"') == 10
    assert 'data-testid="continue"' in first
    assert 'class="portal-code"' not in later
    assert "They were shown once" in later


# --- Resetting a lost authenticator ------------------------------------------------------------------


def reset_url(membership) -> str:
    return reverse("accounts:membership-authenticator-reset", args=[membership.pk])


@pytest.fixture
def lost(world):
    """A viewer of Trust A who has an authenticator, signed in on a device, and the trust's lead."""
    person = world.member(world.trust_a, Role.VIEWER)
    device = Client()
    device.force_login(person, backend="django.contrib.auth.backends.ModelBackend")
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    return person, Membership.objects.get(user=person), device, lead


def test_the_lead_resets_a_lost_authenticator_with_a_fresh_code(lost, client):
    person, membership, device, lead = lost
    client.force_login(lead, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa(client, lead)

    response = client.post(reset_url(membership))

    assert response.status_code == 302
    assert not Authenticator.objects.filter(user=person).exists()
    assert device.get(reverse("home")).status_code == 302
    assert device.session.get(SESSION_KEY) is None
    assert not [s for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(person.pk)]
    assert Session.objects.filter(user=lead).exists()  # only the person's sessions end
    event = AuditEvent.objects.get(action="mfa.authenticator_reset")
    assert event.actor == lead
    assert "totp" in event.changes["removed"]
    assert event.changes["sessions_ended"] == 1
    [message] = enrolment_mails_to(person.email)
    assert "has been reset by an administrator" in message.body
    # The person signs in with their password and their new link, and sets up a new app.
    again = Client()
    again.post(reverse("account_login"), {"login": person.email, "password": factories.PASSWORD})
    assert again.get(ACTIVATE).url == NEEDED
    assert again.post(link_in(message)).url == ACTIVATE
    assert activate_totp(again).status_code == 302


def test_a_reset_with_a_stale_code_is_sent_to_reauthenticate_and_changes_nothing(lost, client):
    person, membership, _device, lead = lost
    client.force_login(lead, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa(client, lead, age_seconds=3600)

    response = client.post(reset_url(membership))

    assert response.status_code == 302 and response.url.startswith(reverse("mfa_reauthenticate"))
    assert Authenticator.objects.filter(user=person).exists()
    assert not AuditEvent.objects.filter(action="mfa.authenticator_reset").exists()
    with pytest.raises(ValidationError) as refused:
        services.authenticator_reset(actor=lead, membership=membership, mfa_verified_at=time.time() - 3600)
    assert refused.value.code == "reauthentication_required"


def test_someone_who_cannot_change_roles_cannot_reset(lost, world, client):
    person, membership, _device, _lead = lost
    colleague = world.member(world.trust_a, Role.CSO)
    client.force_login(colleague, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa(client, colleague)

    assert client.get(reset_url(membership)).status_code == 403
    assert client.post(reset_url(membership)).status_code == 403
    assert Authenticator.objects.filter(user=person).exists()


def test_the_national_admin_may_reset_anyone(lost, world):
    person, membership, _device, _lead = lost

    services.authenticator_reset(actor=world.national_admin, membership=membership, mfa_verified_at=time.time())

    assert not Authenticator.objects.filter(user=person).exists()


def test_a_lead_cannot_reset_someone_who_also_belongs_to_an_organisation_they_do_not_manage(lost, world, client):
    person, membership, _device, lead = lost
    services.membership_grant(actor=None, organisation=world.national, user=person, role=Role.NATIONAL_REVIEWER)
    client.force_login(lead, backend="django.contrib.auth.backends.ModelBackend")
    mark_mfa(client, lead)

    page = client.get(reset_url(membership))
    response = client.post(reset_url(membership))

    assert 'data-testid="reset-not-yours"' in page.content.decode()
    assert response.status_code == 200
    assert "ask the national admin" in response.content.decode()
    assert Authenticator.objects.filter(user=person).exists()


def test_nobody_resets_their_own_authenticator(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)

    with pytest.raises(ValidationError) as refused:
        services.authenticator_reset(
            actor=lead, membership=Membership.objects.get(user=lead), mfa_verified_at=time.time()
        )

    assert refused.value.code == "own"
    assert Authenticator.objects.filter(user=lead).exists()
