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

    # When they sign in with their email address and password
    page.goto(live_server.url + reverse("account_login"))
    assert_accessible(page, checked_pages, label="sign in, anonymous")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()

    # Then they must set up an authenticator app before they can use the portal
    arrive_at(page, checked_pages, reverse("mfa_activate_totp"), "before setting up the app")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert_accessible(page, checked_pages, label="set up authenticator app, at first sign-in")

    # When they type the code their app makes from the secret shown on the page
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret), f"no base32 secret shown: {secret!r}"
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Activate").click()

    # Then the app is their second factor, and they are shown their recovery codes
    arrive_at(page, checked_pages, reverse("mfa_view_recovery_codes"), "before seeing the recovery codes")
    assert Authenticator.objects.filter(user=person, type=Authenticator.Type.TOTP).exists()
    expect(page.get_by_label("Unused codes")).not_to_be_empty()
    assert_accessible(page, checked_pages, label="recovery codes, after setting up the app")

    # When they continue to the portal
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Home").click()

    # Then the home page lists their own organisation's deployment and no other
    expect(page).to_have_url(live_server.url + reverse("home"))
    assert_accessible(page, checked_pages, label="home, Trust A viewer")
    table = page.get_by_test_id("deployment-table")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.get_by_role("link", name="Trust A NIR")).to_be_visible()
    expect(table).not_to_contain_text("Trust B NIR")
    expect(page.get_by_test_id("signed-in-as")).to_have_text(person.full_name)
