"""`make screenshots`: each role's home page, and the 403 page a viewer meets, at 320 px and
1280 px wide, on the demo data of the role-journey tests. Written to screenshots/ (ignored by
git), so a reviewer can look at every role's view in a minute. Run on its own (its name keeps it
out of the test suite): pytest tests/browser/screenshots.py
"""

from pathlib import Path

import pytest

from nir_portal.accounts.models import Role
from tests.browser.role_journeys import JOURNEYS, TRUST, demo_data, demo_person, urls

OUT = Path(__file__).resolve().parents[2] / "screenshots"
WIDTHS = (320, 1280)


@pytest.fixture
def demo(transactional_db):
    return demo_data()


def test_take_screenshots_of_every_roles_home_page_and_an_error_page(demo, live_server, context, page, sign_in):
    OUT.mkdir(exist_ok=True)
    addresses = urls(demo)
    shots = [(role, journey.ods_code, "home", addresses["home"]) for role, journey in JOURNEYS.items()]
    shots.append((Role.VIEWER, TRUST, "403", addresses["evidence-create"]))
    taken = []
    for role, ods_code, name, address in shots:
        sign_in(context, demo_person(role, ods_code))
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(live_server.url + address)
            path = OUT / f"{role}-{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            taken.append(path)
    assert all(path.stat().st_size > 0 for path in taken)
    print(f"\n{len(taken)} screenshots in {OUT}")
