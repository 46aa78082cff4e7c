"""Shared fixtures. Tests run against a real PostgreSQL (DATABASE_URL, or the embedded server
that `make test` starts); Redis and browser tests skip with a reason when those are missing,
and fail instead when CI=true."""

import os
from dataclasses import dataclass

import pytest
from django.core.cache import cache

from nir_portal.accounts.models import Organisation, Role
from onboarding import services as onboarding_services
from tests import factories

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skip when a required service is missing, or fail when running in CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required services must be present)")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clear_cache(settings):
    # The database cache is rolled back with each test; Redis keeps state, so rate limits and
    # other cached values are cleared around every test.
    uses_redis = "redis" in settings.CACHES["default"]["BACKEND"].lower()
    if uses_redis:
        cache.clear()
    yield
    if uses_redis:
        cache.clear()


@pytest.fixture(autouse=True)
def _mail_sent_by_its_task_at_once(monkeypatch):
    # Queued mail is sent by its real Celery task, run in-process as soon as the transaction commits,
    # instead of being handed to a broker that no worker reads during the tests.
    from nir_portal.mail import services as mail_services
    from nir_portal.mail.tasks import mail_send

    monkeypatch.setattr(mail_services, "mail_enqueue", lambda mail_id: mail_send.apply(args=[mail_id]))


@dataclass
class World:
    """Two trusts, a supplier, the national team, and one deployment per trust of one product version."""

    national: Organisation
    trust_a: Organisation
    trust_b: Organisation
    supplier: Organisation
    other_supplier: Organisation
    national_admin: object
    deployment_a: object
    deployment_b: object
    product_version: object

    def member(self, organisation: Organisation, role: str, **kwargs):
        return factories.member(organisation, role, **kwargs)


@pytest.fixture
def world(db) -> World:
    national = factories.OrganisationFactory(kind=Organisation.Kind.NATIONAL, name="National team", region="")
    trust_a = factories.OrganisationFactory(name="Trust A")
    trust_b = factories.OrganisationFactory(name="Trust B")
    supplier = factories.OrganisationFactory(kind=Organisation.Kind.SUPPLIER, name="Supplier S", region="")
    other_supplier = factories.OrganisationFactory(kind=Organisation.Kind.SUPPLIER, name="Supplier T", region="")
    national_admin = factories.member(national, Role.NATIONAL_ADMIN)
    version = factories.product_version(supplier)
    deployment_a = onboarding_services.deployment_create(
        actor=national_admin, organisation=trust_a, product_version=version, name="Trust A NIR", sites=["A1"]
    )
    deployment_b = onboarding_services.deployment_create(
        actor=national_admin, organisation=trust_b, product_version=version, name="Trust B NIR", sites=["B1"]
    )
    return World(
        national, trust_a, trust_b, supplier, other_supplier, national_admin, deployment_a, deployment_b, version
    )


@pytest.fixture
def signed_in(client):
    """Sign a person in on the test client (MFA already enrolled) and return the client."""

    def _sign_in(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _sign_in
