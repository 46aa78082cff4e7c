"""Reflow (WCAG 1.4.10): at 320 CSS pixels wide, the width of 1280px at 400% zoom, no page of the
portal scrolls sideways."""

import pytest
from django.urls import reverse

from nir_portal.accounts.models import Role
from tests.accounts.test_sign_in import give_enrolment_grant
from tests.browser.axe import assert_accessible, horizontal_overflow

pytestmark = pytest.mark.browser

WIDTH = 320


def test_no_key_page_scrolls_sideways_at_320_css_pixels(
    framework, world, live_server, context, page, sign_in, checked_pages
):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    # Long unbroken words are what push a narrow page sideways: a long name in the members table.
    world.member(world.trust_a, Role.VIEWER, full_name="Dr Bartholomew Featherstonehaugh-Cholmondeley")
    new_person = world.member(world.trust_a, Role.VIEWER, mfa=False)
    deployment = world.deployment_a
    pages = [
        (None, reverse("account_login")),
        (None, reverse("accessibility-statement")),
        (lead, reverse("home")),
        (lead, reverse("onboarding:deployment-list")),
        (lead, reverse("onboarding:deployment-detail", args=[deployment.pk])),
        (lead, reverse("onboarding:deployment-checklist", args=[deployment.pk])),
        (lead, reverse("accounts:organisation-detail", args=[world.trust_a.pk])),
        (lead, reverse("accounts:member-invite", args=[world.trust_a.pk])),
        (new_person, reverse("mfa_activate_totp")),
    ]
    page.set_viewport_size({"width": WIDTH, "height": 800})

    too_wide = []
    for person, path in pages:
        if person is None:
            context.clear_cookies()
        else:
            client = sign_in(context, person)
            if person is new_person:
                give_enrolment_grant(client, person)  # as their invitation's link leaves it
        page.goto(live_server.url + path)
        assert page.evaluate("() => document.documentElement.clientWidth") == WIDTH
        assert_accessible(page, checked_pages, label=f"{WIDTH}px wide")
        overflow = horizontal_overflow(page)
        if overflow["scrollWidth"] > WIDTH:
            too_wide.append(f"{path} is {overflow['scrollWidth']}px wide:\n    " + "\n    ".join(overflow["sticking"]))

    assert not too_wide, f"Pages that scroll sideways at {WIDTH}px:\n" + "\n".join(too_wide)


ACCOUNT_BAR_JS = """() => {
  const box = (el) => {
    const r = el.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
  };
  const items = [...document.querySelectorAll('.nhsuk-header__account-item')]
    .map((el) => ({text: el.innerText.trim(), ...box(el)}));
  const overlaps = [];
  items.forEach((a, i) => items.slice(i + 1).forEach((b) => {
    const overlap = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
    if (overlap) overlaps.push(`${a.text} / ${b.text}`);
  }));
  // One box per line the text runs over.
  const range = document.createRange();
  range.selectNodeContents(document.querySelector('.nhsuk-header__account-button'));
  return {items, overlaps, signOutLines: new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size,
          scrollWidth: document.documentElement.scrollWidth};
}"""


@pytest.mark.parametrize("width", [320, 1280])
def test_the_account_bar_keeps_sign_out_on_one_line_beside_security_under_a_long_organisation_name(
    width, world, live_server, context, page, sign_in, checked_pages
):
    # Given someone whose organisation has a long name and who holds a role with a long label
    world.trust_a.name = "Northbridge and Eastmoor Teaching Hospitals University NHS Foundation Trust"
    world.trust_a.save()
    sign_in(context, world.member(world.trust_a, Role.CSO, full_name="Dr Alexandra Featherstonehaugh"))

    # When they open a page at this width
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(live_server.url + reverse("home"))
    bar = page.evaluate(ACCOUNT_BAR_JS)

    # Then nothing in the bar overlaps, the page does not scroll sideways, "Sign out" is on one
    # line, and it sits on the same row as "Security" (never alone under the organisation's name)
    items = {item["text"]: item for item in bar["items"]}
    assert not bar["overlaps"], bar["overlaps"]
    assert bar["scrollWidth"] <= width
    assert bar["signOutLines"] == 1
    assert items["Sign out"]["top"] == items["Security"]["top"]
    if width >= 1280:
        # and on a wide screen the whole bar is one row
        assert len({round(item["top"]) for item in bar["items"]}) == 1, bar["items"]
    assert_accessible(page, checked_pages, label=f"home with a long organisation name, {width}px")
