"""The trust and national dashboards: a column of certificates expired or expiring within N days,
a filter on it, the CSO's re-review flag, and a query count that does not grow with the rows."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from onboarding import services as onboarding_services
from tests import factories
from tests.certificates.conftest import Environment, Purpose, add
from tests.certificates.pki import NOW

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _uncached(settings):
    settings.DASHBOARD_CACHE_SECONDS = 0


def cell(page: str, deployment) -> str:
    row = page[page.index(f'data-testid="deployment-row-{deployment.pk}"') :]
    row = row[: row.index("</tr>")]
    found = row[row.index('data-testid="certificates-expiring"') :]
    return found[found.index("<a") : found.index("</td>")]


def test_the_national_dashboard_counts_and_filters_certificates_expiring_within_n_days(
    world, keepers, certs, signed_in
):
    add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    add(keepers.b_lead, certs.valid, deployment=world.deployment_b)
    add(
        keepers.supplier_lead,
        certs.expired,
        product_version=world.product_version,
        purpose=Purpose.TLS_CLIENT,
        environment=Environment.TEST,
    )
    url = reverse("dashboards:national")

    with time_machine.travel(NOW, tick=False):
        client = signed_in(world.national_admin)
        default = client.get(url).content.decode()
        within_3 = client.get(url + "?certificates=3").content.decode()
        within_400 = client.get(url + "?certificates=400").content.decode()

    assert "Certificates expiring within 30 days" in default
    # Trust A: its own certificate in 5 days and the supplier's expired one; trust B: the supplier's.
    assert ">2<" in cell(default, world.deployment_a) and ">1<" in cell(default, world.deployment_b)
    assert "Certificates expiring within 3 days" in within_3
    assert ">1<" in cell(within_3, world.deployment_a)
    assert ">2<" in cell(within_400, world.deployment_b)


def test_the_filter_leaves_out_deployments_with_nothing_expiring(world, keepers, certs, signed_in):
    add(keepers.a_lead, certs.expiring_in_5_days, deployment=world.deployment_a)
    add(keepers.b_lead, certs.valid, deployment=world.deployment_b)

    with time_machine.travel(NOW, tick=False):
        client = signed_in(world.national_admin)
        page = client.get(reverse("dashboards:national") + "?certificates=30").content.decode()
        trust_b = signed_in(keepers.b_lead).get(reverse("dashboards:trust") + "?certificates=30").content.decode()

    assert f"deployment-row-{world.deployment_a.pk}" in page
    assert f"deployment-row-{world.deployment_b.pk}" not in page
    assert "No deployments match your filters" in trust_b


def test_the_trust_dashboard_shows_the_column_for_its_own_deployments(world, keepers, certs, signed_in):
    add(keepers.a_lead, certs.expired, deployment=world.deployment_a)

    with time_machine.travel(NOW, tick=False):
        page = signed_in(keepers.a_cso).get(reverse("dashboards:trust")).content.decode()

    assert ">1<" in cell(page, world.deployment_a)
    assert reverse("certificates:deployment-certificates", args=[world.deployment_a.pk]) in page


def test_the_certificates_column_and_filter_cost_the_same_queries_for_2_and_12_deployments(
    world, keepers, certs, signed_in
):
    def open_deployments_with_expiring_certificates(count: int) -> None:
        for _ in range(count):
            version = factories.product_version(world.supplier, name=f"Product {factories.next_ods_code('P')}")
            deployment = onboarding_services.deployment_create(
                actor=world.national_admin, organisation=world.trust_a, product_version=version, name=f"A{version.pk}"
            )
            add(keepers.a_lead, certs.expiring_in_5_days, deployment=deployment)
            add(keepers.supplier_lead, certs.expired, product_version=version, purpose=Purpose.TLS_CLIENT)

    def queries(url: str) -> int:
        client = signed_in(keepers.a_lead)
        client.get(url)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    urls = [reverse("dashboards:trust") + "?certificates=30", reverse("dashboards:trust")]
    with time_machine.travel(NOW, tick=False):
        open_deployments_with_expiring_certificates(2)
        small = [queries(url) for url in urls]
        open_deployments_with_expiring_certificates(10)
        large = [queries(url) for url in urls]

    assert small == large


def test_an_expired_live_certificate_shows_on_the_trust_dashboard_as_a_sign_off_to_look_at_again(
    world, keepers, certs, signed_in, django_capture_on_commit_callbacks
):
    import time
    from datetime import date

    from certificates.tasks import certificates_daily_check
    from nir_portal.accounts.models import CSOProfile
    from safety.models import DeploymentHazard
    from safety.services.sign_off import sign_off_create

    CSOProfile.objects.create(
        user=keepers.a_cso,
        professional_body="GMC",
        registration_number="7654321",
        registration_checked_on=date(2026, 1, 5),
    )
    DeploymentHazard.objects.filter(deployment=world.deployment_a).update(
        residual_severity="minor", residual_likelihood="low", residual_rating=1
    )
    sign_off_create(
        actor=keepers.a_cso,
        deployment=world.deployment_a,
        statement="Safe.",
        conditions=[],
        mfa_verified_at=time.time(),
    )
    entry = add(keepers.a_lead, certs.valid, deployment=world.deployment_a)
    after_expiry = entry.current_revision.not_after + timedelta(hours=1)

    with time_machine.travel(after_expiry, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            certificates_daily_check()
        page = signed_in(keepers.a_cso).get(reverse("dashboards:trust")).content.decode()

    assert "Sign-offs to look at again" in page and "flagged for re-review" in page
    assert ">1<" in cell(page, world.deployment_a)
