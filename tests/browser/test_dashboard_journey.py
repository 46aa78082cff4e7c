"""The national lead's journey on the dashboard, in a real browser (issue acceptance): filter to one
supplier, follow a heatmap cell to the deployments behind it, and export the filtered view."""

import csv
import re
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from playwright.sync_api import Page, expect

from dashboards.selectors import area_progress_by_deployment
from nir_portal.accounts.models import Organisation, Role
from onboarding.models import Deployment
from tests import factories
from tests.browser.axe import assert_accessible, horizontal_overflow

pytestmark = pytest.mark.browser


def shown_deployments(page: Page) -> list[str]:
    return page.get_by_test_id("drilldown-deployments").locator("tbody tr td:first-child a").all_inner_texts()


def test_the_national_lead_filters_to_one_supplier_follows_a_heatmap_cell_and_exports_the_view(
    live_server, context, page, sign_in, checked_pages
):
    # Given deployments of several suppliers' products, at every stage
    call_command("seed_scale", deployments=30, seed=11, stdout=StringIO())
    national = Organisation.objects.get(kind=Organisation.Kind.NATIONAL)
    lead = factories.member(national, Role.NATIONAL_ADMIN, full_name="Nadia National")
    by_supplier = Counter(Deployment.objects.values_list("product_version__product__supplier__name", flat=True))
    supplier_name, supplier_count = by_supplier.most_common(1)[0]
    theirs = Deployment.objects.filter(product_version__product__supplier__name=supplier_name)
    assert 0 < supplier_count < Deployment.objects.count()

    # When the national lead opens the dashboard
    sign_in(context, lead)
    page.goto(live_server.url + reverse("dashboards:national"))
    expect(page.get_by_role("heading", level=1)).to_have_text("NIR deployments: national dashboard")
    expect(page.get_by_test_id("total-deployments")).to_contain_text("30")
    assert_accessible(page, checked_pages, label="national dashboard, unfiltered")

    # and filters it to one supplier
    page.get_by_label("Supplier").select_option(label=supplier_name)
    page.get_by_role("button", name="Apply filters").click()

    # Then the dashboard, its totals and its charts cover that supplier's deployments only
    expect(page).to_have_url(re.compile(r"supplier=\d+"))
    expect(page.get_by_test_id("total-deployments")).to_contain_text(str(supplier_count))
    expect(page.get_by_test_id("dashboard-deployments").locator("caption")).to_contain_text(
        f"{supplier_count} deployment{'s' if supplier_count != 1 else ''} matching your filters"
    )
    expect(page.get_by_test_id("heatmap-chart")).to_be_visible()
    assert_accessible(page, checked_pages, label="national dashboard, filtered to one supplier")

    # When they follow a heatmap cell: the deployments with some of an area's requirements accepted
    progress = area_progress_by_deployment(list(theirs.values_list("pk", flat=True)))
    area, band = next(
        (code, band)
        for code in ("governance", "rbac", "training", "business_continuity")
        for band in ("in_progress", "not_started", "complete")
        if any(p[code].band == band for p in progress.values())
    )
    expected = sorted(
        theirs.filter(pk__in=[pk for pk, p in progress.items() if p[area].band == band]).values_list("name", flat=True)
    )
    cell = page.get_by_test_id(f"heatmap-cell-{area}-{band}")
    expect(cell).to_contain_text(str(len(expected)))
    cell.click()

    # Then they see exactly the deployments behind that number, with the supplier filter carried
    expect(page).to_have_url(re.compile(rf"/dashboards/national/deployments/\?.*supplier=\d+.*area={area}&band={band}"))
    expect(page.get_by_test_id("narrowed-to")).to_contain_text(supplier_name)
    assert sorted(shown_deployments(page)) == expected
    assert_accessible(page, checked_pages, label="deployments behind a heatmap cell")

    # When they go back to the filtered dashboard and download the view as CSV
    page.get_by_role("link", name="Back to the dashboard with the same filters").click()
    expect(page).to_have_url(re.compile(r"/dashboards/national/\?supplier=\d+&$"))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download this view (CSV)").click()
    download = download_info.value
    rows = list(csv.DictReader(StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))

    # Then the CSV holds exactly the filtered rows: that supplier's deployments, each once
    assert download.suggested_filename.startswith("nir-deployments-") and download.suggested_filename.endswith(".csv")
    assert sorted((r["Deployment"], r["ODS code"]) for r in rows) == sorted(
        theirs.values_list("name", "organisation__ods_code")
    )
    assert {r["Supplier"] for r in rows} == {supplier_name}
    assert_accessible(page, checked_pages, label="national dashboard after the export")


def test_the_trust_and_supplier_dashboards_and_the_lists_behind_their_numbers_are_accessible_and_reflow(
    framework, safety_reference_data, world, live_server, context, page, sign_in, checked_pages
):
    # Given a trust's CSO and a supplier's assurance lead, and the national lead
    cso = world.member(world.trust_a, Role.CSO)
    supplier_lead = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    visits = [
        (cso, reverse("dashboards:trust"), "trust dashboard, CSO"),
        (cso, reverse("dashboards:trust-hazards") + "?hazard_rating=unrated", "trust's open hazards"),
        (cso, reverse("dashboards:trust-evidence") + "?measure=overdue", "trust's overdue reviews"),
        (supplier_lead, reverse("dashboards:supplier"), "supplier dashboard"),
        (supplier_lead, reverse("dashboards:supplier-hazards"), "supplier's transferred hazard decisions"),
        (supplier_lead, reverse("dashboards:supplier-evidence") + "?measure=accepted", "supplier's accepted evidence"),
        (world.national_admin, reverse("dashboards:national"), "national dashboard"),
        (world.national_admin, reverse("dashboards:national-hazards"), "national open hazards"),
    ]

    too_wide = []
    for width in (1280, 320):
        page.set_viewport_size({"width": width, "height": 800})
        for person, path, label in visits:
            sign_in(context, person)
            page.goto(live_server.url + path)
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            # Then each page passes axe, and none scrolls sideways, even at 320 CSS pixels (WCAG 1.4.10)
            if width == 1280:
                assert_accessible(page, checked_pages, label=label)
            overflow = horizontal_overflow(page)
            if overflow["scrollWidth"] > width:
                too_wide.append(f"{label} at {width}px: {overflow}")

    assert not too_wide, "\n".join(too_wide)
