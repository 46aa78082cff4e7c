"""The query budget: the national dashboard, each list behind its numbers, its exports and the
trust and supplier dashboards run the same number of queries for 5 and for 50 deployments."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dashboards.selectors import area_progress_by_deployment, measures_by_deployment
from nir_portal.accounts.models import Organisation, Role
from onboarding.models import Deployment
from tests import factories
from tests.dashboards.conftest import cold, seed_scale


def national_urls(first: Deployment) -> list[str]:
    """The dashboard, sorted and filtered, and the lists behind its numbers, each narrowed to what
    the first deployment has, so that no list is empty (an empty page skips its rows query)."""
    measures = measures_by_deployment([first.pk])[first.pk]
    band = area_progress_by_deployment([first.pk])[first.pk]["governance"].band
    rating = measures.highest_rating or "none"
    return [
        reverse("dashboards:national"),
        reverse("dashboards:national") + "?sort=progress",
        reverse("dashboards:national") + f"?sort=-rating&sign_off={measures.sign_off_state}&rating={rating}",
        reverse("dashboards:national-deployments") + f"?stage={first.stage}",
        reverse("dashboards:national-deployments") + f"?area=governance&band={band}",
        reverse("dashboards:national-deployments") + f"?dspt={measures.dspt_state}&go_live={measures.go_live_state}",
        reverse("dashboards:national-evidence"),
        reverse("dashboards:national-evidence") + f"?area=governance&deployment={first.pk}",
        reverse("dashboards:national-hazards"),
        reverse("dashboards:national-hazards") + f"?deployment={first.pk}",
        reverse("dashboards:national-export-csv") + f"?stage={first.stage}",
        reverse("dashboards:national-export-xlsx"),
    ]


def queries_for(client, url: str, *, warm: bool = False) -> tuple[int, object]:
    """Queries of one GET: after a first GET (sessions, per-process caches), then with the
    dashboards' cached content cleared (cold) or kept (warm)."""
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url) if warm else cold(client, url)
    assert response.status_code == 200, (url, response.status_code)
    return len(captured), response


def rows_shown(response) -> int:
    if response.get("Content-Type", "").startswith("text/html"):
        return response.content.count(b'data-testid="drilldown-row"') + response.content.count(b"deployment-row-")
    return len(response.content.splitlines()) - 1 if b"," in response.content[:200] else 1


@pytest.mark.django_db
def test_the_national_dashboard_and_every_list_behind_it_run_the_same_queries_for_5_and_50_deployments(
    national_lead, signed_in
):
    client = signed_in(national_lead)
    seed_scale(5)
    urls = national_urls(Deployment.objects.order_by("pk").first())
    small = {url: queries_for(client, url) for url in urls}

    seed_scale(45, seed=8)
    assert Deployment.objects.count() == 50
    large = {url: queries_for(client, url) for url in urls}

    for url in small:
        # Non-empty lists on both sides: an empty page skips its rows query, which would hide growth.
        assert rows_shown(small[url][1]) > 0 and rows_shown(large[url][1]) > 0, url
    counts = {url: (small[url][0], large[url][0]) for url in small}
    assert all(a == b for a, b in counts.values()), counts
    # The rows behind those counts did grow: the budget is the same for ten times the data.
    dashboard = reverse("dashboards:national")
    assert b">5 deployments<" in small[dashboard][1].content
    assert b">50 deployments (page 1 of 2)<" in large[dashboard][1].content


@pytest.mark.django_db
def test_a_cached_national_dashboard_runs_a_fixed_handful_of_queries(national_lead, signed_in):
    client = signed_in(national_lead)
    seed_scale(5)
    url = reverse("dashboards:national")
    cold_count, _ = queries_for(client, url)
    warm_small, _ = queries_for(client, url, warm=True)
    seed_scale(45, seed=8)
    warm_large, response = queries_for(client, url, warm=True)

    assert warm_small == warm_large < cold_count
    assert b"50 deployments" in response.content


@pytest.mark.django_db
def test_the_trust_and_supplier_dashboards_run_the_same_queries_for_5_and_50_deployments(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    cso = world.member(world.trust_a, Role.CSO)
    supplier_lead = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    national = world.national_admin
    from onboarding import services as onboarding_services

    def open_deployments(count: int) -> None:
        for _ in range(count):
            version = factories.product_version(world.supplier, name=f"Product {Deployment.objects.count()}")
            onboarding_services.deployment_create(
                actor=national, organisation=world.trust_a, product_version=version, name=f"A{version.pk}"
            )

    urls = [
        (lead, reverse("dashboards:trust")),
        (cso, reverse("dashboards:trust") + "?sort=progress"),
        (lead, reverse("dashboards:trust-evidence")),
        (lead, reverse("dashboards:trust-hazards")),
        (supplier_lead, reverse("dashboards:supplier")),
        (supplier_lead, reverse("dashboards:supplier-hazards")),
    ]
    open_deployments(4)
    small = [queries_for(signed_in(person), url)[0] for person, url in urls]
    open_deployments(45)
    large = [queries_for(signed_in(person), url)[0] for person, url in urls]

    assert Organisation.objects.get(pk=world.trust_a.pk).deployments.count() == 50
    assert small == large, list(zip([u for _, u in urls], small, large, strict=True))
