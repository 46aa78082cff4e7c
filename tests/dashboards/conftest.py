"""Fixtures for the dashboards: the reference data (framework, risk matrix, hazard library) taken
before the conftest world opens its deployments, people of each kind, and seeded volumes."""

from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command

from dashboards.templatetags import dashboard_cache
from nir_portal.accounts.models import Organisation, Role
from onboarding.services.framework import framework_load
from safety.services.reference import safety_reference_data_load
from tests import factories
from tests.onboarding import evidence_fixtures as fx


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Everyone made here gets a password; nobody signs in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reference_data(db):
    framework, _ = framework_load(actor=None, data=fx.framework_data(), publish=True)
    safety_reference_data_load()
    return framework


@pytest.fixture
def world(reference_data, world):
    """The conftest world, opened once the framework and the safety reference data are loaded."""
    assert world.deployment_a.framework_id == reference_data.pk
    return world


@pytest.fixture
def national_lead(db):
    national = Organisation.objects.filter(kind=Organisation.Kind.NATIONAL).first() or factories.OrganisationFactory(
        kind=Organisation.Kind.NATIONAL, name="National team", region=""
    )
    return factories.member(national, Role.NATIONAL_ADMIN, full_name="Nadia National")


def seed_scale(deployments: int, seed: int = 7) -> str:
    out = StringIO()
    call_command("seed_scale", deployments=deployments, seed=seed, stdout=out)
    return out.getvalue()


def cold(client, url: str):
    """GET with the dashboards' cached content cleared first, so everything is computed."""
    cache.clear()
    dashboard_cache.forget_local_copies()
    return client.get(url)
