"""Fixtures for the clinical safety screens: the reference data loaded before the world's
deployments open, the people who act on a trust's log, and a recent MFA check."""

import time
from dataclasses import dataclass

import pytest
from allauth.account.internal.flows.login import record_authentication
from django.test import RequestFactory

from nir_portal.accounts.models import CSOProfile, Role
from safety.models import DeploymentHazard
from safety.services.reference import safety_reference_data_load
from tests import factories


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every person made here gets a password; no test here signs in with one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reference_data(db):
    return safety_reference_data_load()


@pytest.fixture
def world(reference_data, world):
    """The conftest world, opened once the risk matrix and hazard library are loaded, so both
    deployments start their hazard logs from the library."""
    return world


@dataclass
class People:
    cso_a: object
    lead_a: object
    viewer_a: object
    executive_a: object
    cso_b: object
    supplier_cso: object
    national_reviewer: object


@pytest.fixture
def people(world) -> People:
    cso_a = world.member(world.trust_a, Role.CSO, full_name="Dr Ada Clinician")
    CSOProfile.objects.create(
        user=cso_a,
        professional_body=CSOProfile.ProfessionalBody.GMC,
        registration_number="7654321",
        registration_checked_on=factories.recent_registration_check(),
    )
    return People(
        cso_a=cso_a,
        lead_a=world.member(world.trust_a, Role.DEPLOYMENT_LEAD),
        viewer_a=world.member(world.trust_a, Role.VIEWER),
        executive_a=world.member(world.trust_a, Role.EXECUTIVE_APPROVER),
        cso_b=world.member(world.trust_b, Role.CSO),
        supplier_cso=world.member(world.supplier, Role.SUPPLIER_CSO),
        national_reviewer=world.member(world.national, Role.NATIONAL_REVIEWER),
    )


@pytest.fixture
def as_user(client):
    """Sign a person in on the test client, optionally with an MFA check done just now."""

    def _as(user, *, recent_mfa: bool = False, mfa_age: float = 0):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        if recent_mfa:
            request = RequestFactory().get("/")
            request.user, request.session = user, client.session
            record_authentication(request, user, method="mfa", type="totp", reauthenticated=True)
            if mfa_age:
                for record in request.session["account_authentication_methods"]:
                    record["at"] = time.time() - mfa_age
            request.session.save()
        return client

    return _as


def score_all(deployment, *, residual: tuple[str, str] = ("minor", "low"), initial=("major", "medium")):
    """Assess every hazard of the log directly (test arrangement, not the journey under test)."""
    matrix = deployment.risk_plan.risk_matrix
    DeploymentHazard.objects.filter(deployment=deployment).update(
        initial_severity=initial[0],
        initial_likelihood=initial[1],
        initial_rating=matrix.rating(*initial),
        residual_severity=residual[0],
        residual_likelihood=residual[1],
        residual_rating=matrix.rating(*residual),
    )
