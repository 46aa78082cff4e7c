"""Journeys made with the keyboard alone: Tab, Shift+Tab, Enter, Space, arrow keys and typing."""

import re

import pyotp
import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from nir_portal.accounts.models import Membership, Role
from tests.browser.axe import assert_accessible
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser

MAX_TABS = 40

# What a sighted keyboard user sees of the focused element: :focus-visible must match, and it must
# draw an outline or a box-shadow (the NHS.UK focus style is a yellow fill with a dark underline).
FOCUS_INDICATOR_JS = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow !== 'none';
  return {focusVisible: el.matches(':focus-visible'), outline, shadow, html: el.outerHTML.slice(0, 100)};
}"""


def is_focused(locator: Locator) -> bool:
    return locator.evaluate("(el) => el === document.activeElement")


def focused(page: Page) -> str:
    return page.evaluate(
        "() => { const el = document.activeElement; return el ? el.outerHTML.slice(0, 100) : 'nothing'; }"
    )


def tab_to(page: Page, target: Locator, *, key: str = "Tab") -> list[str]:
    """Press Tab (or Shift+Tab) until `target` has focus; returns what was focused on the way."""
    passed = []
    for _ in range(MAX_TABS):
        page.keyboard.press(key)
        if is_focused(target):
            return passed
        passed.append(focused(page))
    raise AssertionError(f"{key} never reached {target}; it passed through:\n" + "\n".join(passed))


def assert_visible_focus(page: Page) -> None:
    indicator = page.evaluate(FOCUS_INDICATOR_JS)
    assert indicator["focusVisible"], f"{indicator['html']} does not match :focus-visible"
    assert indicator["outline"] or indicator["shadow"], f"{indicator['html']} has no visible focus indicator"


def test_a_person_signs_in_with_their_authenticator_code_using_only_the_keyboard(
    world, live_server, page, checked_pages
):
    # Given an enrolled viewer at Trust A on the sign-in page
    person = world.member(world.trust_a, Role.VIEWER)
    page.goto(live_server.url + reverse("account_login"))
    assert_accessible(page, checked_pages, label="sign in, keyboard journey")

    # When they press Tab once, the skip link has focus, and shows it
    page.keyboard.press("Tab")
    skip_link = page.locator("a.nhsuk-skip-link")
    assert is_focused(skip_link), f"first Tab focused {focused(page)}, not the skip link"
    expect(skip_link).to_be_visible()
    assert_visible_focus(page)

    # Then Tab reaches the email address, the password and the button, in that order
    email = page.get_by_label("Email")
    password = page.get_by_label("Password")
    sign_in = page.get_by_role("button", name="Sign in", exact=True)
    tab_to(page, email)
    assert_visible_focus(page)
    tab_to(page, password)
    tab_to(page, sign_in)
    assert_visible_focus(page)
    # and Shift+Tab goes back the same way
    tab_to(page, password, key="Shift+Tab")

    # When they send the empty form
    tab_to(page, sign_in)
    page.keyboard.press("Enter")

    # Then the error summary has focus and the title says there is an error
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator(".nhsuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    assert page.evaluate("() => document.activeElement.classList.contains('nhsuk-error-summary')")
    assert_accessible(page, checked_pages, label="sign in with errors, keyboard journey")

    # When they follow the first error's link, focus moves to the field it is about
    first_error = summary.get_by_role("link").first
    tab_to(page, first_error)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Email")).to_be_focused()

    # When they type their email address and password and press Enter
    page.keyboard.type(person.email)
    tab_to(page, page.get_by_label("Password"))
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    # Then they are asked for a code from their authenticator app
    expect(page).to_have_url(re.compile(re.escape(reverse("mfa_authenticate"))))
    expect(page).to_have_title(re.compile(r"^Enter a code from your authenticator app - "))
    assert_accessible(page, checked_pages, label="authenticator code at sign-in, keyboard journey")
    code = page.locator("input[name=code]")
    tab_to(page, code)
    assert_visible_focus(page)
    page.keyboard.type(pyotp.TOTP(person.totp_secret).now())
    page.keyboard.press("Enter")

    # Then they are signed in, on their home page
    expect(page).to_have_url(live_server.url + reverse("home"))
    expect(page.get_by_test_id("signed-in-as")).to_have_text(person.full_name)
    assert_accessible(page, checked_pages, label="home after keyboard sign-in")


def test_a_deployment_lead_invites_a_colleague_using_only_the_keyboard(
    world, live_server, context, page, sign_in, checked_pages
):
    # Given Trust A's deployment lead, signed in, on their home page
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    sign_in(context, lead)
    page.goto(live_server.url + reverse("home"))

    # When they go to their organisation's page by keyboard
    tab_to(page, page.get_by_role("navigation", name="Menu").get_by_role("link", name="Organisations"))
    assert_visible_focus(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    tab_to(page, page.get_by_role("link", name="Trust A", exact=True))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Trust A")

    # and open the invitation form
    tab_to(page, page.get_by_role("link", name="Invite someone"))
    assert_visible_focus(page)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Invite someone to Trust A")
    assert_accessible(page, checked_pages, label="invite form, keyboard journey")

    # and fill it in: email, name, and a role chosen from the radios with Space and the arrow keys
    tab_to(page, page.get_by_label("Email address"))
    page.keyboard.type("new.colleague@trust-a.nhs.uk")
    tab_to(page, page.get_by_label("Full name"))
    page.keyboard.type("New Colleague")
    first_role = page.get_by_role("radio").first
    tab_to(page, first_role)
    assert_visible_focus(page)
    page.keyboard.press("Space")
    expect(page.get_by_role("radio", name=Role.CSO.label)).to_be_checked()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    contributor = page.get_by_role("radio", name=Role.EVIDENCE_CONTRIBUTOR.label)
    expect(contributor).to_be_checked()
    expect(contributor).to_be_focused()
    send = page.get_by_role("button", name="Send invitation")
    tab_to(page, send)
    assert_visible_focus(page)
    page.keyboard.press("Enter")

    # Then the colleague is invited with that role, and the lead is told so on the organisation page
    expect(page.get_by_role("heading", level=1)).to_have_text("Trust A")
    expect(page.get_by_role("status")).to_contain_text("new.colleague@trust-a.nhs.uk has been invited")
    assert Membership.objects.filter(
        organisation=world.trust_a, user__email="new.colleague@trust-a.nhs.uk", role=Role.EVIDENCE_CONTRIBUTOR
    ).exists()
    assert_accessible(page, checked_pages, label="organisation after invitation, keyboard journey")
