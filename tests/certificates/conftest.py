"""Fixtures for the certificate register: the test PKI, and the people who keep the register."""

import time
from dataclasses import dataclass
from datetime import date

import pytest

from certificates import services
from certificates.models import CertificateEntry
from nir_portal.accounts.models import CSOProfile, Role
from safety.models import DeploymentHazard
from safety.services.sign_off import sign_off_create
from tests.certificates.pki import HOST, Issued, pki

Purpose = CertificateEntry.Purpose
Environment = CertificateEntry.Environment


@pytest.fixture(scope="session")
def certs():
    return pki()


@dataclass
class Keepers:
    a_lead: object
    a_cso: object
    a_viewer: object
    b_lead: object
    supplier_lead: object
    supplier_cso: object


@pytest.fixture
def keepers(world) -> Keepers:
    return Keepers(
        a_lead=world.member(world.trust_a, Role.DEPLOYMENT_LEAD, full_name="Alex Lead"),
        a_cso=world.member(world.trust_a, Role.CSO, full_name="Casey CSO"),
        a_viewer=world.member(world.trust_a, Role.VIEWER),
        b_lead=world.member(world.trust_b, Role.DEPLOYMENT_LEAD),
        supplier_lead=world.member(world.supplier, Role.SUPPLIER_ASSURANCE_LEAD),
        supplier_cso=world.member(world.supplier, Role.SUPPLIER_CSO),
    )


def upload(issued: Issued | bytes, name: str = "certificate.pem") -> services.Upload:
    return services.Upload(name=name, data=issued if isinstance(issued, bytes) else issued.pem)


def add(
    actor,
    certificate: Issued | bytes,
    *,
    deployment=None,
    product_version=None,
    name: str = "Gateway server",
    purpose: str = Purpose.GATEWAY_SERVER,
    environment: str = Environment.LIVE,
    owner=None,
    hostname: str = HOST,
) -> CertificateEntry:
    return services.certificate_entry_create(
        actor=actor,
        deployment=deployment,
        product_version=product_version,
        name=name,
        purpose=purpose,
        environment=environment,
        owner=owner or actor,
        endpoint_hostname=hostname,
        upload=upload(certificate),
    )


@pytest.fixture
def registered_chain(world, keepers, certs):
    """Trust A's deployment with the test root and intermediate registered as its issuing chain."""
    for issued, label in ((certs.root, "Test root"), (certs.intermediate, "Test issuing CA")):
        add(
            keepers.a_lead,
            issued,
            deployment=world.deployment_a,
            name=label,
            purpose=Purpose.ISSUING_CHAIN,
            hostname="",
        )
    return world.deployment_a


@pytest.fixture
def signed_off(world, keepers):
    """Trust A's hazard log signed off by its CSO, every hazard assessed at a residual rating of 1."""
    CSOProfile.objects.create(
        user=keepers.a_cso,
        professional_body="GMC",
        registration_number="7654321",
        registration_checked_on=date(2026, 1, 5),
    )
    DeploymentHazard.objects.filter(deployment=world.deployment_a).update(
        residual_severity="minor", residual_likelihood="low", residual_rating=1
    )
    return sign(world.deployment_a, keepers.a_cso)


def sign(deployment, cso, statement: str = "Safe."):
    return sign_off_create(
        actor=cso, deployment=deployment, statement=statement, conditions=[], mfa_verified_at=time.time()
    )
