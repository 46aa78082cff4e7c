"""Reflow (WCAG 1.4.10): at 320 CSS pixels wide, the width of 1280px at 400% zoom, no page of the
portal scrolls sideways."""

import pytest
from django.urls import reverse

from nir_portal.accounts.models import Role
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
            sign_in(context, person)
        page.goto(live_server.url + path)
        assert page.evaluate("() => document.documentElement.clientWidth") == WIDTH
        assert_accessible(page, checked_pages, label=f"{WIDTH}px wide")
        overflow = horizontal_overflow(page)
        if overflow["scrollWidth"] > WIDTH:
            too_wide.append(f"{path} is {overflow['scrollWidth']}px wide:\n    " + "\n    ".join(overflow["sticking"]))

    assert not too_wide, f"Pages that scroll sideways at {WIDTH}px:\n" + "\n".join(too_wide)
