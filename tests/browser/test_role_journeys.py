"""Every role's main journey, in a real browser on demo data: the menu it gets, the forms and
buttons each page shows it (and those it must not), and what it is refused when it types an
address: an NHS-styled 403 naming the role that may act and who holds it, or a 404 for another
organisation's objects. The live server runs with DEBUG off, so these are the production error
handlers. Every page visited is checked with axe.

The expectations live in `tests/browser/role_journeys.py`; the last test proves they bite: a
viewer wrongly given a contributor's role makes the viewer's journey fail.
"""

import pytest
from playwright.sync_api import Page as BrowserPage

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import Organisation, Role
from tests.browser.axe import assert_accessible
from tests.browser.role_journeys import JOURNEYS, TRUST, Demo, Journey, demo_data, demo_person, urls

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db) -> Demo:
    return demo_data()


def menu_items(page: BrowserPage) -> tuple[str, ...]:
    links = page.get_by_role("navigation", name="Menu").get_by_role("link")
    return tuple(text.strip() for text in links.all_inner_texts())


def walk(journey: Journey, demo: Demo, page: BrowserPage, base_url: str, checked_pages) -> list[str]:
    """Walk the journey; return every way the pages differ from what the role should see."""
    addresses = urls(demo)
    wrong = []
    for step in journey.pages:
        response = page.goto(base_url + addresses[step.url])
        where = f"{journey.role} on {step.label}"
        if response.status != 200:
            wrong.append(f"{where}: status {response.status}")
            continue
        assert_accessible(page, checked_pages, label=f"{journey.role}: {step.label}")
        if step.url == "home" and menu_items(page) != journey.menu:
            wrong.append(f"{where}: menu is {menu_items(page)}, expected {journey.menu}")
        for control in step.sees:
            if page.get_by_role(control.role, name=control.name, exact=True).count() == 0:
                wrong.append(f"{where}: missing {control.role} {control.name!r}")
        for control in step.hides:
            if page.get_by_role(control.role, name=control.name, exact=True).count():
                wrong.append(f"{where}: shows {control.role} {control.name!r}, which this role cannot use")
        body = page.locator("main").inner_text()
        for text in step.texts:
            if text not in body:
                wrong.append(f"{where}: does not say {text!r}")
    for refusal in journey.refusals:
        response = page.goto(base_url + addresses[refusal.url])
        where = f"{journey.role} refused {refusal.url}"
        if response.status != refusal.status:
            wrong.append(f"{where}: status {response.status}, expected {refusal.status}")
            continue
        assert_accessible(page, checked_pages, label=f"{journey.role}: refused {refusal.url} ({refusal.status})")
        body = page.locator("main").inner_text()
        for text in refusal.says:
            if text not in body:
                wrong.append(f"{where}: the {refusal.status} page does not say {text!r}")
        if page.get_by_test_id("way-back").count() != 1:
            wrong.append(f"{where}: the {refusal.status} page offers no way back")
    return wrong


@pytest.mark.parametrize("role", list(JOURNEYS))
def test_each_role_sees_only_what_it_may_use_and_is_told_why_when_refused(
    role, demo, live_server, context, page, sign_in, checked_pages
):
    journey = JOURNEYS[role]
    sign_in(context, demo_person(role, journey.ods_code))

    wrong = walk(journey, demo, page, live_server.url, checked_pages)

    assert not wrong, "\n".join(wrong)


def test_a_viewer_wrongly_given_a_contributors_role_fails_the_viewers_journey(
    demo, live_server, context, page, sign_in, checked_pages
):
    # Given the viewer, wrongly also made an evidence contributor in the test's own data
    viewer = demo_person(Role.VIEWER, TRUST)
    account_services.membership_grant(
        actor=None, organisation=Organisation.objects.get(ods_code=TRUST), user=viewer, role=Role.EVIDENCE_CONTRIBUTOR
    )
    sign_in(context, viewer)

    # When the viewer's journey is walked
    wrong = walk(JOURNEYS[Role.VIEWER], demo, page, live_server.url, checked_pages)

    # Then it fails where the contributor's forms appear and where the refusal no longer happens
    assert "viewer on checklist: shows link 'Add evidence', which this role cannot use" in wrong
    assert any(line.startswith("viewer refused evidence-create: status 200") for line in wrong), wrong
