"""The first sign-in of a newly invited person, in a real browser (issue acceptance), and a stolen
password that cannot set up an authenticator."""

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse
from playwright.sync_api import Page, expect

from nir_portal.accounts import services
from nir_portal.accounts.models import Membership, Role
from nir_portal.mail.models import OutgoingMail
from nir_portal.mail.services import mail_render
from tests.browser.axe import assert_accessible
from tests.factories import PASSWORD

NEW_PASSWORD = "Another-Long-Passphrase-42"

pytestmark = pytest.mark.browser


def arrive_at(page: Page, checked_pages, path: str, when: str) -> None:
    """Wait to arrive at `path`, confirming the password on the way if allauth asks.

    allauth asks for the password again before adding an authenticator or showing recovery codes
    unless the person re-authenticated within ACCOUNT_REAUTHENTICATION_TIMEOUT; whether having
    just signed in counts is the account adapter's choice, so the journey accepts both.
    """
    reauthenticate = reverse("account_reauthenticate")
    expect(page).to_have_url(re.compile(f"({re.escape(reauthenticate)}|{re.escape(path)})"))
    if reauthenticate in page.url:
        assert_accessible(page, checked_pages, label=f"confirm password, {when}")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(re.escape(path)))


def test_an_invited_person_sets_a_password_sets_up_an_authenticator_app_and_sees_only_their_own_deployments(
    world, live_server, page, checked_pages
):
    # Given a lead of Trust A invites a new viewer, who is emailed a set-password link
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    services.user_invite(
        actor=lead, organisation=world.trust_a, email="new.viewer@test.nhs.uk", full_name="New Viewer", role=Role.VIEWER
    )
    invitation = mail_render(OutgoingMail.objects.get(template="invitation", to="new.viewer@test.nhs.uk"))
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", invitation.body).group(1)
    person = Membership.objects.get(user__email="new.viewer@test.nhs.uk").user

    # When they follow the link and set a password
    page.goto(live_server.url + link)
    assert_accessible(page, checked_pages, label="set a password, from the invitation")
    # (a first password is chosen, not changed)
    expect(page.get_by_role("heading", level=1)).to_have_text("Choose your password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()

    # Then they are signed in and must set up an authenticator app, in the same session
    arrive_at(page, checked_pages, reverse("mfa_activate_totp"), "before setting up the app")
    assert_accessible(page, checked_pages, label="set up authenticator app, at first sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up an authenticator app")

    # When they send the form without a code
    page.get_by_role("button", name="Set up the authenticator app").click()

    # Then they are told what to enter
    expect(page.locator(".nhsuk-error-summary")).to_contain_text("Enter the 6-digit code from your authenticator app")
    assert_accessible(page, checked_pages, label="set up authenticator app, no code")

    # When they type the code their app makes from the key shown for those who cannot scan the QR code
    page.get_by_text("I cannot scan the QR code").click()
    secret = page.locator("#authenticator_secret").text_content().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), f"no base32 secret shown: {secret!r}"
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Set up the authenticator app").click()

    # Then the app is their second factor, and they are shown their recovery codes once
    arrive_at(page, checked_pages, reverse("mfa_view_recovery_codes"), "before seeing the recovery codes")
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    assert_accessible(page, checked_pages, label="recovery codes, after setting up the app")

    # When they continue
    page.get_by_role("link", name="Continue").click()

    # Then they are in the portal, and the deployments list shows their own organisation's
    # deployment and no other
    expect(page).to_have_url(live_server.url + reverse("home"))
    page.goto(live_server.url + reverse("onboarding:deployment-list"))
    assert_accessible(page, checked_pages, label="deployments, Trust A viewer, after enrolment")
    table = page.get_by_test_id("deployment-table")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.get_by_role("link", name="Trust A NIR")).to_be_visible()
    expect(table).not_to_contain_text("Trust B NIR")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(person.full_name)


def test_a_stolen_password_alone_cannot_set_up_an_authenticator(world, live_server, page, checked_pages):
    # Given someone who has never set up an authenticator, whose password an attacker has learnt
    person = world.member(world.trust_a, Role.VIEWER, mfa=False)

    # When the attacker signs in with it
    page.goto(live_server.url + reverse("onboarding:deployment-list"))
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Then they are asked to use the link emailed to the account, and cannot reach the set-up pages
    expect(page).to_have_url(live_server.url + reverse("enrolment_needed"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator from the link we sent")
    assert_accessible(page, checked_pages, label="use the emailed link, password only")
    for path in (reverse("mfa_activate_totp"), reverse("mfa_add_webauthn")):
        page.goto(live_server.url + path)
        expect(page).to_have_url(live_server.url + reverse("enrolment_needed"))

    # When they ask for a new link, it goes to the account's own address, and the page says no more
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.locator("body")).to_contain_text("is on its way to your email address")
    expect(page.locator("body")).not_to_contain_text(person.email)
    assert OutgoingMail.objects.filter(template="enrolment_link", to=person.email).count() == 1
    assert not Authenticator.objects.filter(user=person).exists()
