"""The first sign-in of a newly invited person, in a real browser (issue acceptance)."""

import re

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse
from playwright.sync_api import Page, expect

from nir_portal.accounts.models import Role
from tests.browser.axe import assert_accessible
from tests.factories import PASSWORD

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


def test_a_new_member_sets_up_an_authenticator_app_at_first_sign_in_and_sees_only_their_own_deployments(
    world, live_server, page, checked_pages
):
    # Given a viewer at Trust A who has never signed in, so has no authenticator yet
    person = world.member(world.trust_a, Role.VIEWER, mfa=False)

    # When they follow a link to the deployments list, and sign in with their email address and password
    page.goto(live_server.url + reverse("onboarding:deployment-list"))
    expect(page).to_have_url(re.compile(re.escape(reverse("account_login"))))
    assert_accessible(page, checked_pages, label="sign in, anonymous")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Then they must set up an authenticator app before they can use the portal
    arrive_at(page, checked_pages, reverse("mfa_activate_totp"), "before setting up the app")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
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

    # Then they are on the page they asked for, which lists their own organisation's deployment
    # and no other
    expect(page).to_have_url(live_server.url + reverse("onboarding:deployment-list"))
    assert_accessible(page, checked_pages, label="deployments, Trust A viewer, after enrolment")
    table = page.get_by_test_id("deployment-table")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.get_by_role("link", name="Trust A NIR")).to_be_visible()
    expect(table).not_to_contain_text("Trust B NIR")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(person.full_name)
