"""Who reaches which dashboard: the national dashboard, its lists and exports are the national
team's alone (everyone else gets 404, as for anything they may not see); a trust's dashboard shows
only its own deployments, a supplier's only those of its products."""

import re

from django.urls import reverse

from nir_portal.accounts import services as account_services
from nir_portal.accounts.models import ROLES_BY_KIND, Organisation, Role
from onboarding import services as onboarding_services
from tests import factories

NATIONAL_ONLY = [
    "dashboards:national",
    "dashboards:national-export-csv",
    "dashboards:national-export-xlsx",
    "dashboards:national-deployments",
    "dashboards:national-evidence",
    "dashboards:national-hazards",
]
TRUST_ONLY = ["dashboards:trust", "dashboards:trust-evidence", "dashboards:trust-hazards"]
SUPPLIER_ONLY = ["dashboards:supplier", "dashboards:supplier-evidence", "dashboards:supplier-hazards"]
HEADER_LINK = {
    Organisation.Kind.NATIONAL: "dashboards:national",
    Organisation.Kind.TRUST: "dashboards:trust",
    Organisation.Kind.IMAGING_NETWORK: "dashboards:trust",
    Organisation.Kind.SUPPLIER: "dashboards:supplier",
}


def deployment_rows(html: bytes) -> set[str]:
    return set(re.findall(r'data-testid="deployment-row-(\d+)"', html.decode()))


def test_every_role_reaches_only_its_own_kind_of_dashboard_and_gets_404_on_the_others(world, signed_in):
    organisations = {
        Organisation.Kind.NATIONAL: world.national,
        Organisation.Kind.TRUST: world.trust_a,
        Organisation.Kind.IMAGING_NETWORK: factories.OrganisationFactory(
            kind=Organisation.Kind.IMAGING_NETWORK, name="Pennine Imaging Network"
        ),
        Organisation.Kind.SUPPLIER: world.supplier,
    }
    allowed = {
        Organisation.Kind.NATIONAL: NATIONAL_ONLY,
        Organisation.Kind.TRUST: TRUST_ONLY,
        Organisation.Kind.IMAGING_NETWORK: TRUST_ONLY,
        Organisation.Kind.SUPPLIER: SUPPLIER_ONLY,
    }
    wrong = []
    for kind, roles in ROLES_BY_KIND.items():
        for role in roles:
            client = signed_in(world.member(organisations[kind], role))
            for name in NATIONAL_ONLY + TRUST_ONLY + SUPPLIER_ONLY:
                expected = 200 if name in allowed[kind] else 404
                got = client.get(reverse(name)).status_code
                if got != expected:
                    wrong.append(f"{role} of a {kind}: {name}: {got}, expected {expected}")
            link = re.search(r'href="([^"]+)"[^>]*>Dashboard</a>', client.get(reverse("home")).content.decode())
            if link is None or link.group(1) != reverse(HEADER_LINK[kind]):
                wrong.append(f"{role} of a {kind}: the header's dashboard link is {link and link.group(1)}")

    assert not wrong, "\n".join(wrong)


def test_anonymous_visitors_are_sent_to_sign_in_from_every_dashboard(client, db):
    for name in [*NATIONAL_ONLY, *TRUST_ONLY, *SUPPLIER_ONLY]:
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/"), name


def test_a_trust_sees_only_its_own_deployments_and_their_hazards_and_evidence(world, signed_in):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    client = signed_in(lead)

    page = client.get(reverse("dashboards:trust"))
    hazards = client.get(reverse("dashboards:trust-hazards"))
    # Narrowing to another trust's deployment finds nothing: the scope is never widened.
    foreign = client.get(reverse("dashboards:trust-hazards") + f"?deployment={world.deployment_b.pk}")

    assert deployment_rows(page.content) == {str(world.deployment_a.pk)}
    assert b"Trust A NIR" in hazards.content and b"Trust B NIR" not in hazards.content
    assert b"0 open hazards" in foreign.content


def test_a_supplier_sees_the_deployments_of_its_products_and_never_another_suppliers(world, signed_in):
    other_version = factories.product_version(world.other_supplier, name="Other connector")
    onboarding_services.deployment_create(
        actor=world.national_admin, organisation=world.trust_a, product_version=other_version, name="Trust A other"
    )
    client = signed_in(world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD))

    page = client.get(reverse("dashboards:supplier"))

    assert deployment_rows(page.content) == {str(world.deployment_a.pk), str(world.deployment_b.pk)}
    assert b"Trust A other" not in page.content


def test_a_supplier_cannot_filter_by_a_trusts_hazards_or_sign_off(world, signed_in):
    client = signed_in(world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD))

    # Rated 5 hazards exist nowhere: were the filter applied, no deployment would be listed.
    page = client.get(reverse("dashboards:supplier") + "?rating=5&sign_off=current")

    assert len(deployment_rows(page.content)) == 2
    assert b'name="rating"' not in page.content


def test_someone_in_a_trust_and_the_national_team_is_led_to_the_dashboard_of_the_organisation_they_act_for(
    world, signed_in
):
    person = world.member(world.trust_a, Role.VIEWER)
    account_services.membership_grant(actor=None, organisation=world.national, user=person, role=Role.NATIONAL_REVIEWER)
    client = signed_in(person)
    session = client.session
    session["active_organisation_id"] = world.trust_a.pk
    session.save()

    home = client.get(reverse("home")).content.decode()

    assert f'href="{reverse("dashboards:trust")}"' in home
    assert client.get(reverse("dashboards:trust")).status_code == 200
    assert client.get(reverse("dashboards:national")).status_code == 200
