"""Deployments: who may open one, who sees it, how its stage moves, what is audited, and what
the lists cost in queries."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nir_portal.accounts.models import DEPLOYING_ROLES, NATIONAL_ROLES, SUPPLIER_ROLES, Organisation, Role
from nir_portal.audit.models import AuditEvent
from onboarding import permissions, selectors, services
from onboarding.models import Deployment, DeploymentStageChange, ProductVersion
from tests import factories

Stage = Deployment.Stage


def client_for(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def visible(user) -> set[Deployment]:
    return set(selectors.deployments_visible_to(user))


def error_codes(error: ValidationError) -> set[str]:
    return {e.code for errors in error.error_dict.values() for e in errors}


def at_stage(deployment: Deployment, stage: str) -> Deployment:
    # Arranges a stage directly: the tests below are about the move from it, not the route to it.
    Deployment.objects.filter(pk=deployment.pk).update(stage=stage)
    deployment.refresh_from_db()
    return deployment


# --- Opening a deployment ---------------------------------------------------------------------------


def test_a_trusts_deployment_lead_opens_a_deployment_at_setup_and_it_is_audited(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    version = factories.product_version(world.supplier, version="2.0", name="Second product")

    deployment = services.deployment_create(
        actor=lead, organisation=world.trust_a, product_version=version, name=" New NIR ", sites=["Main site"]
    )

    assert deployment.name == "New NIR"
    assert deployment.stage == Stage.SETUP
    assert deployment.created_by == lead
    assert [s.name for s in deployment.sites.all()] == ["Main site"]
    assert list(deployment.stage_changes.values_list("from_stage", "to_stage")) == [("", Stage.SETUP)]
    event = AuditEvent.objects.get(action="deployment.create", object_id=str(deployment.pk))
    assert event.actor == lead
    assert event.organisation == world.trust_a
    assert event.outcome == AuditEvent.Outcome.SUCCESS
    assert event.changes["sites"] == ["Main site"]


@pytest.mark.parametrize("role", [r for r in DEPLOYING_ROLES if r != Role.DEPLOYMENT_LEAD])
def test_other_roles_in_the_trust_cannot_open_a_deployment(world, role):
    person = world.member(world.trust_a, role)
    version = factories.product_version(world.supplier, version="2.0", name="Second product")

    with pytest.raises(PermissionDenied):
        services.deployment_create(actor=person, organisation=world.trust_a, product_version=version, name="X")

    assert not Deployment.objects.filter(product_version=version).exists()


def test_a_supplier_cannot_open_a_deployment_for_a_trust(world):
    supplier_lead = world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD)
    version = factories.product_version(world.supplier, version="2.0", name="Second product")

    with pytest.raises(PermissionDenied):
        services.deployment_create(actor=supplier_lead, organisation=world.trust_a, product_version=version, name="X")


def test_a_lead_of_another_trust_cannot_open_a_deployment_for_this_one(world):
    other_lead = world.member(world.trust_b, Role.DEPLOYMENT_LEAD)
    version = factories.product_version(world.supplier, version="2.0", name="Second product")

    with pytest.raises(PermissionDenied):
        services.deployment_create(actor=other_lead, organisation=world.trust_a, product_version=version, name="X")


def test_an_organisation_that_does_not_deploy_cannot_have_a_deployment(world):
    version = factories.product_version(world.supplier, version="2.0", name="Second product")

    with pytest.raises(ValidationError) as refused:
        services.deployment_create(
            actor=world.national_admin, organisation=world.supplier, product_version=version, name="X"
        )

    assert error_codes(refused.value) == {"not_deploying"}
    assert not AuditEvent.objects.filter(action="deployment.create", organisation=world.supplier).exists()


def test_a_withdrawn_product_version_cannot_be_deployed(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    version = factories.product_version(world.supplier, version="0.9", name="Old product")
    ProductVersion.objects.filter(pk=version.pk).update(status=ProductVersion.Status.WITHDRAWN)
    version.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        services.deployment_create(actor=lead, organisation=world.trust_a, product_version=version, name="X")

    assert error_codes(refused.value) == {"withdrawn"}


def test_the_lead_opens_a_deployment_through_the_form(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)
    version = factories.product_version(world.supplier, version="2.0", name="Second product")

    response = client_for(lead).post(
        reverse("onboarding:deployment-create"),
        {
            "organisation": world.trust_a.pk,
            "product_version": version.pk,
            "name": "Form NIR",
            "sites": "Site one\n\nSite two\n",
        },
    )

    deployment = Deployment.objects.get(name="Form NIR")
    assert response.status_code == 302
    assert response.url == deployment.get_absolute_url()
    assert sorted(deployment.sites.values_list("name", flat=True)) == ["Site one", "Site two"]


def test_the_form_offers_only_organisations_the_person_leads(world):
    lead = world.member(world.trust_a, Role.DEPLOYMENT_LEAD)

    response = client_for(lead).post(
        reverse("onboarding:deployment-create"),
        {"organisation": world.trust_b.pk, "product_version": world.product_version.pk, "name": "Sneaky"},
    )

    assert response.status_code == 200
    assert "organisation" in response.context["form"].errors
    assert not Deployment.objects.filter(name="Sneaky").exists()


def test_a_viewer_is_refused_the_page_for_opening_a_deployment_and_told_who_may(world):
    world.member(world.trust_a, Role.DEPLOYMENT_LEAD, full_name="Lee Lead")
    viewer = world.member(world.trust_a, Role.VIEWER)

    response = client_for(viewer).get(reverse("onboarding:deployment-create"))

    assert response.status_code == 403
    assert "Lee Lead" in response.content.decode()


# --- Who sees which deployment ---------------------------------------------------------------------


@pytest.mark.parametrize("role", DEPLOYING_ROLES)
def test_trust_members_see_only_their_own_trusts_deployment(world, role):
    person = world.member(world.trust_a, role)

    assert visible(person) == {world.deployment_a}
    assert permissions.can_view(person, world.deployment_a)
    assert not permissions.can_view(person, world.deployment_b)


@pytest.mark.parametrize("role", SUPPLIER_ROLES)
def test_supplier_members_see_every_deployment_of_their_product_version(world, role):
    person = world.member(world.supplier, role)

    assert visible(person) == {world.deployment_a, world.deployment_b}


@pytest.mark.parametrize("role", SUPPLIER_ROLES)
def test_members_of_another_supplier_see_no_deployment(world, role):
    person = world.member(world.other_supplier, role)

    assert visible(person) == set()
    assert not permissions.can_view(person, world.deployment_a)


@pytest.mark.parametrize("role", NATIONAL_ROLES)
def test_the_national_team_sees_every_deployment(world, role):
    person = world.member(world.national, role)
    elsewhere = factories.OrganisationFactory(name="Trust C")
    version = factories.product_version(world.other_supplier)
    deployment_c = services.deployment_create(
        actor=world.national_admin, organisation=elsewhere, product_version=version, name="C"
    )

    assert visible(person) == {world.deployment_a, world.deployment_b, deployment_c}


def test_only_the_deployment_lead_may_manage_a_deployment(world):
    may_manage = {
        role
        for role in (*DEPLOYING_ROLES, *SUPPLIER_ROLES, *NATIONAL_ROLES)
        if permissions.MANAGE_DEPLOYMENT.allows(
            world.member(world.trust_a if role in DEPLOYING_ROLES else _org_for(world, role), role),
            world.deployment_a,
        )
    }

    assert may_manage == {Role.DEPLOYMENT_LEAD}


def _org_for(world, role) -> Organisation:
    return world.supplier if role in SUPPLIER_ROLES else world.national


def test_losing_a_membership_ends_access_to_the_deployment(world):
    from nir_portal.accounts import services as account_services
    from nir_portal.accounts.models import Membership

    viewer = world.member(world.trust_a, Role.VIEWER)
    membership = Membership.objects.get(user=viewer, organisation=world.trust_a)

    account_services.membership_revoke(actor=world.national_admin, membership=membership)

    viewer.refresh_from_db()
    assert visible(viewer) == set()


def test_opening_someone_elses_deployment_is_a_404_and_is_audited_as_denied(world):
    viewer_b = world.member(world.trust_b, Role.VIEWER)

    response = client_for(viewer_b).get(world.deployment_a.get_absolute_url())

    assert response.status_code == 404
    denial = AuditEvent.objects.get(action="access.denied")
    assert denial.actor == viewer_b
    assert denial.outcome == AuditEvent.Outcome.DENIED
    assert denial.object_id == str(world.deployment_a.pk)


# --- Stage changes --------------------------------------------------------------------------------


@pytest.fixture
def lead(world):
    return world.member(world.trust_a, Role.DEPLOYMENT_LEAD)


def test_the_lead_moves_a_deployment_forward_one_stage_and_it_is_recorded_and_audited(world, lead):
    deployment = services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=Stage.GOVERNANCE)

    deployment.refresh_from_db()
    assert deployment.stage == Stage.GOVERNANCE
    change = DeploymentStageChange.objects.filter(deployment=deployment).first()
    assert (change.from_stage, change.to_stage, change.changed_by) == (Stage.SETUP, Stage.GOVERNANCE, lead)
    event = AuditEvent.objects.get(action="deployment.stage_change")
    assert event.actor == lead
    assert event.organisation == world.trust_a
    assert event.object_id == str(deployment.pk)
    assert event.changes == {"stage": [Stage.SETUP, Stage.GOVERNANCE], "reason": ""}


@pytest.mark.parametrize("to_stage", [Stage.TECHNICAL, Stage.SAFETY_SIGN_OFF])
def test_skipping_a_stage_is_refused_with_a_clear_message(world, lead, to_stage):
    with pytest.raises(ValidationError) as refused:
        services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=to_stage)

    assert error_codes(refused.value) == {"skip_stage"}
    assert refused.value.message_dict["to_stage"] == ["A deployment moves forward one stage at a time."]
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.SETUP
    assert not AuditEvent.objects.filter(action="deployment.stage_change").exists()


def test_moving_back_a_stage_is_allowed(world, lead):
    at_stage(world.deployment_a, Stage.TECHNICAL)

    services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=Stage.GOVERNANCE)

    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.GOVERNANCE


def test_moving_to_the_stage_it_is_already_at_is_refused(world, lead):
    with pytest.raises(ValidationError) as refused:
        services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=Stage.SETUP)

    assert error_codes(refused.value) == {"same_stage"}


@pytest.mark.parametrize("to_stage", [Stage.SUSPENDED, Stage.DECOMMISSIONED])
def test_suspending_or_decommissioning_needs_a_reason(world, lead, to_stage):
    with pytest.raises(ValidationError) as refused:
        services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=to_stage, reason="  ")

    assert error_codes(refused.value) == {"reason_required"}
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.SETUP


def test_suspending_with_a_reason_records_the_reason(world, lead):
    services.deployment_stage_change(
        actor=lead, deployment=world.deployment_a, to_stage=Stage.SUSPENDED, reason="PACS outage"
    )

    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.SUSPENDED
    assert world.deployment_a.stage_changes.first().reason == "PACS outage"
    assert AuditEvent.objects.get(action="deployment.stage_change").changes["reason"] == "PACS outage"


@pytest.mark.parametrize(
    ("from_stage", "to_stage"),
    [(Stage.SAFETY_SIGN_OFF, Stage.GO_LIVE_AUTHORISED), (Stage.GO_LIVE_AUTHORISED, Stage.LIVE)],
)
def test_the_go_live_stages_cannot_be_set_by_a_stage_change(world, lead, from_stage, to_stage):
    at_stage(world.deployment_a, from_stage)

    with pytest.raises(ValidationError) as refused:
        services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=to_stage)

    assert error_codes(refused.value) == {"needs_authorisation"}
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == from_stage


def _suspend(deployment, lead, from_stage: str) -> None:
    at_stage(deployment, from_stage)
    services.deployment_stage_change(actor=lead, deployment=deployment, to_stage=Stage.SUSPENDED, reason="Outage")


@pytest.mark.parametrize("to_stage", [Stage.GOVERNANCE, Stage.TECHNICAL, Stage.GO_LIVE_AUTHORISED, Stage.LIVE])
def test_a_suspension_is_no_way_round_the_stages_or_the_go_live_authorisation(world, lead, to_stage):
    _suspend(world.deployment_a, lead, from_stage=Stage.SETUP)

    with pytest.raises(ValidationError) as refused:
        services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=to_stage)

    assert error_codes(refused.value) == {"past_previous_stage"}
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.SUSPENDED


def test_a_decommissioned_deployment_cannot_be_brought_straight_to_live(world, lead):
    services.deployment_stage_change(
        actor=lead, deployment=world.deployment_a, to_stage=Stage.DECOMMISSIONED, reason="Replaced"
    )

    with pytest.raises(ValidationError) as refused:
        services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=Stage.LIVE)

    assert error_codes(refused.value) == {"past_previous_stage"}


@pytest.mark.parametrize(
    ("suspended_at", "resumed_at"),
    [(Stage.TECHNICAL, Stage.TECHNICAL), (Stage.TECHNICAL, Stage.SETUP), (Stage.LIVE, Stage.LIVE)],
)
def test_a_suspended_deployment_returns_to_the_stage_it_was_at_or_an_earlier_one(world, lead, suspended_at, resumed_at):
    _suspend(world.deployment_a, lead, from_stage=suspended_at)

    services.deployment_stage_change(actor=lead, deployment=world.deployment_a, to_stage=resumed_at)

    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == resumed_at


@pytest.mark.parametrize(
    ("organisation", "role"),
    [
        ("trust_a", Role.VIEWER),
        ("trust_a", Role.CSO),
        ("trust_b", Role.DEPLOYMENT_LEAD),
        ("supplier", Role.SUPPLIER_ASSURANCE_LEAD),
        ("national", Role.NATIONAL_ADMIN),
    ],
)
def test_only_the_deployments_own_lead_may_change_its_stage(world, organisation, role):
    person = world.member(getattr(world, organisation), role)

    with pytest.raises(PermissionDenied):
        services.deployment_stage_change(actor=person, deployment=world.deployment_a, to_stage=Stage.GOVERNANCE)

    assert not AuditEvent.objects.filter(action="deployment.stage_change").exists()


def test_a_refused_stage_change_shows_its_message_on_the_form(world, lead):
    response = client_for(lead).post(
        reverse("onboarding:deployment-stage", args=[world.deployment_a.pk]), {"to_stage": Stage.TECHNICAL}
    )

    assert response.status_code == 200
    assert "A deployment moves forward one stage at a time." in response.content.decode()
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.SETUP


def test_a_stage_change_through_the_form_returns_to_the_deployment(world, lead):
    response = client_for(lead).post(
        reverse("onboarding:deployment-stage", args=[world.deployment_a.pk]), {"to_stage": Stage.GOVERNANCE}
    )

    assert response.status_code == 302
    assert response.url == world.deployment_a.get_absolute_url()
    world.deployment_a.refresh_from_db()
    assert world.deployment_a.stage == Stage.GOVERNANCE


# --- Query budgets ----------------------------------------------------------------------------------


def _add_deployments(world, count: int) -> None:
    for i in range(count):
        version = factories.product_version(world.supplier, version=f"3.{i}", name=f"Extra product {i}")
        services.deployment_create(
            actor=world.national_admin, organisation=world.trust_a, product_version=version, name=f"Extra {i}"
        )


def _queries(client: Client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries), len(response.context["deployments"])


@pytest.mark.parametrize("url_name", ["home", "onboarding:deployment-list"])
@pytest.mark.parametrize(
    ("organisation", "role"),
    [("national", Role.NATIONAL_REVIEWER), ("supplier", Role.SUPPLIER_CSO), ("trust_a", Role.VIEWER)],
)
def test_the_deployment_lists_cost_the_same_queries_for_2_or_12_deployments(world, url_name, organisation, role):
    client = client_for(world.member(getattr(world, organisation), role))
    url = reverse(url_name)
    client.get(url)  # the first request fills per-process caches (content types, sites)
    queries_before, rows_before = _queries(client, url)

    _add_deployments(world, 10)
    queries_after, rows_after = _queries(client, url)

    assert rows_after == rows_before + 10
    assert queries_after == queries_before


def test_the_deployment_list_is_in_a_stable_order(world):
    _add_deployments(world, 3)
    reviewer = world.member(world.national, Role.NATIONAL_REVIEWER)

    response = client_for(reviewer).get(reverse("onboarding:deployment-list"))

    names = [(d.organisation.name, d.name) for d in response.context["deployments"]]
    assert names == sorted(names)
