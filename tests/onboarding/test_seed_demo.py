"""seed_demo: safe to run again, and refused where its published passwords would be dangerous."""

from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError

from nir_portal.accounts.models import Membership, Organisation
from onboarding.models import Deployment
from onboarding.selectors import deployments_visible_to


def row_counts() -> dict[str, int]:
    """Rows in every table the project's models own, so a duplicate anywhere shows."""
    return {
        model._meta.label: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seeding_twice_creates_nothing_the_second_time(db):
    seed()
    after_first = row_counts()

    seed()

    assert row_counts() == after_first
    assert after_first["accounts.Organisation"] == 7
    assert after_first["onboarding.Deployment"] == 4
    assert after_first["accounts.Membership"] > 0


def test_every_demo_deployment_is_visible_to_its_trust_and_supplier_roles(db):
    seed()

    for deployment in Deployment.objects.select_related("product_version__product__supplier"):
        supplier = deployment.product_version.product.supplier
        trust_members = Membership.objects.filter(organisation=deployment.organisation)
        supplier_members = Membership.objects.filter(organisation=supplier)
        assert trust_members.exists()
        assert supplier_members.exists()
        for membership in [*trust_members, *supplier_members]:
            assert deployments_visible_to(membership.user).filter(pk=deployment.pk).exists(), membership


def test_seeding_prints_the_demo_accounts(db):
    output = seed()

    assert "deployment.lead@rz1.demo.nhs.uk" in output
    assert "national.admin@xz1.demo.nhs.uk" in output


def test_seeding_is_refused_when_neither_debug_nor_testing_is_on(db, settings):
    settings.DEBUG = False
    settings.TESTING = False

    with pytest.raises(CommandError, match="DEBUG"):
        seed()

    assert not Organisation.objects.exists()


@pytest.mark.parametrize(("debug", "testing"), [(True, False), (False, True)])
def test_seeding_runs_when_debug_or_testing_is_on(db, settings, debug, testing):
    settings.DEBUG = debug
    settings.TESTING = testing

    seed()

    assert Organisation.objects.count() == 7
