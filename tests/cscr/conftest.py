"""Arrangements for the CSCR bundle tests: a trust's hazard log scored, with a transferred hazard
decided, a verified control backed by accepted evidence whose file is really stored, an open action,
and the CSO's sign-off; bundles and evidence stored under the test's own folder."""

import hashlib
import itertools
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from nir_portal.accounts.models import CSOProfile, Role
from onboarding.services.evidence.rules import StoredUpload
from safety import cscr_services
from safety.cscr import verification
from safety.models import CSCRBundleJob, DeploymentHazard, HazardControl, SignOff
from safety.services.controls import action_add, control_save
from safety.services.hazards import hazard_transfer_decide
from safety.services.reference import safety_reference_data_load
from safety.services.sign_off import sign_off_create
from safety.services.supplier_hazards import supplier_hazard_save
from tests import factories
from tests.browser.conftest import (  # noqa: F401  fixtures, found by name: the browser test here uses them
    browser_type_launch_args,
    checked_pages,
    console_watch,
    context,
    page,
    sign_in,
)
from tests.conftest import mark_mfa
from tests.onboarding import evidence_fixtures as fx
from tests.onboarding.evidence_fixtures import default_framework  # noqa: F401  a fixture, found by name

STATEMENT = "Every residual risk is acceptable for go-live with the controls listed; the CSO accepts the case."
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def bundle_storage(settings, tmp_path) -> Path:
    """Bundles and evidence files in the test's folder; no timestamp authority unless a test sets one."""
    settings.STORAGES = {
        **settings.STORAGES,
        "cscr": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path / "cscr"}},
        "evidence": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "evidence"},
        },
    }
    settings.CSCR_TSA_URL = ""
    return tmp_path / "cscr"


@pytest.fixture
def reference_data(db):
    return safety_reference_data_load()


@pytest.fixture
def world(reference_data, default_framework, world):  # noqa: F811  the fixture imported above, by name
    """The conftest world, opened after the risk matrix, hazard library and onboarding framework are
    loaded, so both deployments start their hazard logs from the library and take evidence."""
    return world


@dataclass
class People:
    cso_a: object
    lead_a: object
    executive_a: object
    viewer_a: object
    contributor_a: object
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
        lead_a=world.member(world.trust_a, Role.DEPLOYMENT_LEAD, full_name="Lee Lead"),
        executive_a=world.member(world.trust_a, Role.EXECUTIVE_APPROVER, full_name="Eve Executive"),
        viewer_a=world.member(world.trust_a, Role.VIEWER),
        contributor_a=world.member(world.trust_a, Role.EVIDENCE_CONTRIBUTOR),
        cso_b=world.member(world.trust_b, Role.CSO),
        supplier_cso=world.member(world.supplier, Role.SUPPLIER_CSO),
        national_reviewer=world.member(world.national, Role.NATIONAL_REVIEWER),
    )


def stored_evidence(world, people, *, title: str, content: bytes, name: str = "test-report.pdf"):
    """Accepted trust evidence whose one file is really in evidence storage, marked clean."""
    storage_name = f"evidence/cscr-{next(_numbers)}-{name}"
    storages["evidence"].save(storage_name, ContentFile(content))
    from onboarding.services.evidence.contributions import evidence_create

    evidence = evidence_create(
        actor=people.contributor_a,
        owner=world.trust_a,
        deployment=world.deployment_a,
        title=title,
        requirement_codes=["GOV-03"],
        statement="Worklist reconciliation tested before go-live.",
        effective_date=fx.EFFECTIVE,
        files=[
            StoredUpload(
                original_name=name,
                storage_name=storage_name,
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                detected_type="pdf",
            )
        ],
        submit=True,
    )
    fx.mark_clean(evidence)
    fx.accepted(people.national_reviewer, evidence, world.deployment_a)
    return evidence


def make_signable(deployment, cso) -> None:
    """Every hazard scored major/medium (3) before and minor/very low (1) after its controls, with an
    operating limit, and every transferred hazard decided (test arrangement: a bulk update)."""
    for hazard in DeploymentHazard.objects.filter(
        deployment=deployment, transfer_decision=DeploymentHazard.TransferDecision.PENDING
    ):
        hazard_transfer_decide(
            actor=cso,
            hazard=hazard,
            decision=DeploymentHazard.TransferDecision.ACCEPTED,
            justification="Our imaging team applies the supplier's workaround.",
            expected_version=hazard.version,
            mfa_verified_at=time.time(),
        )
    matrix = deployment.risk_plan.risk_matrix
    DeploymentHazard.objects.filter(deployment=deployment).update(
        initial_severity="major",
        initial_likelihood="medium",
        initial_rating=matrix.rating("major", "medium"),
        residual_severity="minor",
        residual_likelihood="very_low",
        residual_rating=matrix.rating("minor", "very_low"),
        operating_limits="Holds while the hazard is monitored weekly.",
    )


def sign(deployment, cso, statement: str = STATEMENT) -> SignOff:
    return sign_off_create(
        actor=cso,
        deployment=deployment,
        statement=statement,
        conditions=[{"description": "Run the fallback drill.", "due_on": date(2026, 9, 30)}],
        mfa_verified_at=time.time(),
    )


@pytest.fixture
def transferred(world, people):
    """A supplier DCB0129 hazard transferred to every deployment of the version."""
    return supplier_hazard_save(
        actor=people.supplier_cso,
        product_version=world.product_version,
        code="SUP-7",
        name="Timeout shown as no prior imaging",
        description="A slow network looks like an empty history.",
        clinical_impact="Missed priors.",
        causes="Gateway timeout.",
        supplier_controls="Per-source status shown.",
        is_transferred=True,
        transfer_note="Train staff that no result is not no imaging.",
    )


@pytest.fixture
def evidence(world, people):
    return stored_evidence(
        world,
        people,
        title="Worklist reconciliation test report",
        content=b"%PDF-1.7 reconciliation test report " + b"x" * 2000,
    )


@pytest.fixture
def signed_off(world, people, transferred, evidence) -> SignOff:
    """Trust A's log: scored, the transferred hazard accepted, a verified control citing accepted
    evidence, an unverified one, an open action; signed off by the CSO."""
    deployment, cso = world.deployment_a, people.cso_a
    make_signable(deployment, cso)
    first = DeploymentHazard.objects.get(deployment=deployment, number=1)
    revision = evidence.revisions.get()
    control_save(
        actor=cso,
        hazard=first,
        expected_version=first.version,
        kind=HazardControl.Kind.TEST,
        description="Three-identifier check tested on every site.",
        owner=world.trust_a,
        is_verified=True,
        evidence_revisions=[revision],
    )
    first.refresh_from_db()
    control_save(
        actor=cso,
        hazard=first,
        expected_version=first.version,
        kind=HazardControl.Kind.TRAINING,
        description="Radiographers trained to check source demographics.",
        owner=world.trust_a,
        is_verified=False,
        evidence_revisions=[],
    )
    first.refresh_from_db()
    action_add(
        actor=cso,
        hazard=first,
        expected_version=first.version,
        description="Repeat the reconciliation test after the next release.",
        owner=world.trust_a,
        due_on=date(2026, 12, 1),
    )
    return sign(deployment, cso)


def build(job: CSCRBundleJob) -> CSCRBundleJob:
    """Run the worker's service in this process and return the job as it ended."""
    outcome = cscr_services.bundle_build(job_id=job.pk)
    assert not outcome.retry, CSCRBundleJob.objects.get(pk=job.pk).failure_reason
    return CSCRBundleJob.objects.get(pk=job.pk)


@pytest.fixture
def built(signed_off, people, bundle_storage) -> CSCRBundleJob:
    """A complete bundle of trust A's current sign-off, built in this process."""
    job, _ = cscr_services.bundle_request(
        actor=people.cso_a, deployment=signed_off.deployment, mfa_verified_at=time.time()
    )
    job = build(job)
    assert job.status == CSCRBundleJob.Status.COMPLETE, job.failure_reason
    return job


def bundle_path(job: CSCRBundleJob) -> Path:
    return Path(storages["cscr"].path(job.storage_name))


def verify(path_or_bytes) -> verification.VerificationReport:
    from safety.cscr.signing import trusted_certificates

    return verification.verify_bundle(path_or_bytes, trust_roots=trusted_certificates())


@pytest.fixture
def as_user(client):
    """Sign a person in on the test client (MFA already enrolled) and return the client."""

    def _as(user, *, recent_mfa: bool = False):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        if recent_mfa:
            mark_mfa(client, user)
        return client

    return _as
