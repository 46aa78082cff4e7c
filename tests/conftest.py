"""Shared fixtures. Tests run against a real PostgreSQL (DATABASE_URL, or the embedded server
that `make test` starts); Redis and browser tests skip with a reason when those are missing,
and fail instead when CI=true."""

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from allauth.account.internal.flows.login import record_authentication
from django.core.cache import cache
from django.test import RequestFactory

from dashboards.templatetags import dashboard_cache
from nir_portal.accounts.models import Organisation, Role
from nir_portal.clamav import daemon as clamav_daemon
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


def free_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_clamd(directory: Path, *, tcp_port: int | None = None) -> clamav_daemon.Daemon:
    """A clamd of the test's own on the development signatures, as `make run` and CI start it;
    skipped (failed in CI) when clamd is not installed."""
    require(clamav_daemon.clamd_binary() is not None, f"clamd is not installed ({clamav_daemon.INSTALL_COMMAND})")
    try:
        return clamav_daemon.start(directory, development=True, tcp_port=tcp_port)
    except clamav_daemon.ClamdError as error:
        require(False, f"clamd did not start: {error}")
        raise


@pytest.fixture(scope="session")
def clamd_urls(tmp_path_factory):
    """URLs of a clamd that answers PING: CLAMAV_URL from the environment, or one started here."""
    from_env = os.environ.get("CLAMAV_URL", "")
    if from_env and clamav_daemon.ping(from_env):
        yield [from_env]
        return
    directory = tmp_path_factory.mktemp("clamd")
    port = free_port()
    daemon = start_clamd(directory, tcp_port=port)
    try:
        yield [daemon.url, f"tcp://127.0.0.1:{port}"]
    finally:
        clamav_daemon.stop(directory)


@pytest.fixture
def clamd_url(clamd_urls, settings) -> str:
    """A clamd that answers, set as the portal's scanner for the test."""
    settings.CLAMAV_URL = clamd_urls[0]
    return clamd_urls[0]


@pytest.fixture(scope="session")
def _no_scanner_answering() -> bool:
    """Whether nothing answers at CLAMAV_URL although clamd is installed (a plain `make test`)."""
    from django.conf import settings as django_settings

    return clamav_daemon.clamd_binary() is not None and not clamav_daemon.ping(django_settings.CLAMAV_URL)


@pytest.fixture(autouse=True)
def _scanner(request, _no_scanner_answering) -> None:
    # Files are scanned as under `make run`: seeding the demo and arranging a deployment's
    # onboarding store and scan real files, so every test finds a clamd at CLAMAV_URL, started
    # once per test process when none was running. A test that needs the scanner down says so.
    if _no_scanner_answering:
        request.getfixturevalue("clamd_url")


@pytest.fixture(autouse=True)
def _clear_cache(settings):
    # The database cache is rolled back with each test; Redis keeps state, so rate limits and
    # other cached values are cleared around every test.
    # Each process's copies of the dashboards' content go with them (the shared copies are keyed
    # by the data, but a rolled-back test's data can come back in another's with the same ids).
    uses_redis = "redis" in settings.CACHES["default"]["BACKEND"].lower()
    if uses_redis:
        cache.clear()
    dashboard_cache.forget_local_copies()
    yield
    if uses_redis:
        cache.clear()
    dashboard_cache.forget_local_copies()


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


def mark_mfa(client, user, *, age_seconds: float = 0) -> None:
    """Record in the client's session an authenticator check made `age_seconds` ago, as a real
    sign-in or re-authentication with a TOTP code leaves it."""
    request = RequestFactory().get("/")
    request.user, request.session = user, client.session
    record_authentication(request, user, method="mfa", type="totp", reauthenticated=True)
    for record in request.session["account_authentication_methods"]:
        record["at"] = time.time() - age_seconds
    request.session.save()


@pytest.fixture
def signed_in(client):
    """Sign a person in on the test client (MFA already enrolled) and return the client; with
    `recent_mfa`, their authenticator check was just now, as binding actions need."""

    def _sign_in(user, *, recent_mfa: bool = False):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        if recent_mfa:
            mark_mfa(client, user)
        return client

    return _sign_in
